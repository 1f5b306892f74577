#if DEBUG
using CsCheck;
using Transport;
using Transport.Mock;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.FanOut;
using Transport.WebSockets.Pool;

namespace Transport.Tests.FanOut;

/// <summary>
/// The lease ownership rule (docs/adr/0013) as a property: over random schedules of publish,
/// subscribe (filters, both drop policies, small bounds that evict), a nested fan-out, stall, read
/// (TryRead, TryReadBatch, ReadBatchAsync), hold and release later, detach, merge into a pool's merged
/// source and read it, and disposal, every lease is released exactly once per hold and returned to its
/// pool exactly once, and no payload is read after its release.
/// </summary>
/// <remarks>
/// The leases come from a private pool with a quarantining <see cref="LeaseTracker"/> (Debug builds
/// only): a lease whose last holder released it is never reused, so any later read throws and is
/// counted, even where the exception is caught. Each payload carries its message number in every byte,
/// and every read checks it. A failure prints CsCheck's seed; replay it with <c>CsCheck_Seed=&lt;seed&gt;
/// dotnet test --filter LeaseOwnershipPropertyTests</c>; <c>CsCheck_Iter=&lt;n&gt;</c> runs more schedules.
/// </remarks>
public sealed class LeaseOwnershipPropertyTests
{
    private const int Schedules = 2_000;

    [Fact]
    [Trait("Invariant", "Lease.L1")]
    [Trait("Invariant", "Lease.L2")]
    [Trait("Invariant", "Lease.L9")]
    [Trait("Invariant", "FanOut.F9")]
    [Trait("Invariant", "Ring.I12")]
    [Trait("Invariant", "Pool.P10")]
    public void Every_lease_is_released_exactly_once_and_never_read_after_release()
    {
        Gen<Op[]> schedules = Gen.Select(Gen.Int[0, OpKinds - 1], Gen.Int[0, 255], Gen.Int[0, 255], (kind, a, b) => new Op(kind, a, b)).Array[1, 80];

        long published = 0, shared = 0, evicted = 0;
        schedules.Sample(
            ops =>
            {
                var world = new World();
                world.Run(ops);
                published += world.Tracker.Rented;
                shared += world.Tracker.Shared;
                evicted += world.Evicted;
            },
            iter: Schedules,
            threads: 1,
            print: ops => string.Join(' ', ops.Select(o => o.ToString())));

        // The generator must exercise what it claims: many leases, shared between holders, and evicted.
        Assert.True(published > Schedules * 5L, $"only {published} leases rented");
        Assert.True(shared > Schedules, $"only {shared} shares");
        Assert.True(evicted > Schedules, $"only {evicted} frames evicted by bounded queues");
    }

    private const int OpKinds = 10;

    private readonly record struct Op(int Kind, int A, int B)
    {
        public override string ToString() => $"{Kind}/{A}/{B}";
    }

    private sealed class Subscriber(FanOutSubscriber queue, bool feedsNested)
    {
        public FanOutSubscriber Queue { get; } = queue;

        public bool FeedsNested { get; } = feedsNested;

        public bool Stalled { get; set; }
    }

    private sealed class World
    {
        private readonly PayloadLeasePool _pool = new();
        private readonly DropOldestRing _sourceRing = new(capacityFrames: 8, capacityBytes: 256);
        private readonly ManualSpawner _spawner = new();
        private readonly FrameSource _source;
        private readonly FrameFanOut _top;
        private readonly PoolSource _merged = new(capacityFrames: 6, capacityBytes: 160);
        private readonly List<Subscriber> _subscribers = [];
        private readonly List<Frame> _held = [];
        private FrameFanOut? _nested;
        private int _nextId;

        public World()
        {
            Tracker = new LeaseTracker { Quarantine = true };
            _pool.Tracker = Tracker;
            _source = new FrameSource(_sourceRing);
            _top = new FrameFanOut(_source, _spawner);
            _top.Start();
            _spawner.RunUntilIdle();
        }

        public LeaseTracker Tracker { get; }

        public long Evicted => _sourceRing.TotalLagged + _merged.TotalDropped + _subscribers.Sum(s => s.Queue.Stats.Dropped);

        public void Run(Op[] ops)
        {
            foreach (Op op in ops)
            {
                Step(op);
            }

            End();

            Assert.True(Tracker.DoubleReleases == 0 && Tracker.UsesAfterRelease == 0, Tracker.ToString());
            Assert.True(Tracker.Outstanding == 0, $"holds never released: {Tracker}");
            Assert.True(Tracker.Returned == Tracker.Rented, $"leases not returned exactly once: {Tracker}");
        }

        private void Step(Op op)
        {
            switch (op.Kind)
            {
                case 0: // publish 1-6 messages of 4-51 bytes (the source ring evicts beyond 8 frames / 256 B)
                    for (int i = 0; i < 1 + (op.A % 6); i++)
                    {
                        _sourceRing.Write(Message(4 + (op.B % 48)));
                    }

                    _spawner.RunUntilIdle();
                    break;
                case 1:
                    Subscribe(_top, op);
                    break;
                case 2:
                    Subscribe(Nested(), op);
                    break;
                case 3:
                    Read(op);
                    break;
                case 4: // release some frames held since an earlier read
                    for (int i = 0; i < 1 + (op.A % 4) && _held.Count > 0; i++)
                    {
                        int at = op.B % _held.Count;
                        Frame frame = _held[at];
                        _held.RemoveAt(at);
                        Check(frame);
                        frame.Release();
                    }

                    break;
                case 5 when Pick(op.A) is { } leaving:
                    leaving.Queue.DisposeAsync().AsTask().GetAwaiter().GetResult();
                    _spawner.RunUntilIdle();
                    break;
                case 6 when Pick(op.A) is { } toggled:
                    toggled.Stalled = !toggled.Stalled;
                    break;
                case 7 when Pick(op.A) is { Stalled: false, FeedsNested: false } merging:
                    // The pool member's pump: each frame's hold passes to the merged source.
                    while (merging.Queue.TryRead(out Frame frame))
                    {
                        _merged.Write(new PooledFrame(_subscribers.IndexOf(merging), frame));
                    }

                    break;
                case 8:
                    for (int i = 0; i < 1 + (op.A % 5) && _merged.TryRead(out PooledFrame pooled); i++)
                    {
                        Keep(pooled.Frame, hold: op.B % 4 == 0);
                    }

                    break;
                case 9:
                    Dispose(op.A % 2 == 0 ? _top : _nested);
                    break;
            }
        }

        private void Read(Op op)
        {
            if (Pick(op.A) is not { Stalled: false, FeedsNested: false } reader)
            {
                return;
            }

            IFrameSource source = reader.Queue;
            Frame[] batch = new Frame[1 + (op.B % 5)];
            int taken = (op.B / 5 % 3) switch
            {
                0 => source.TryRead(out batch[0]) ? 1 : 0,
                1 => source.TryReadBatch(batch),
                _ => reader.Queue.Count > 0 ? source.ReadBatchAsync(batch).AsTask().GetAwaiter().GetResult() : 0,
            };

            for (int i = 0; i < taken; i++)
            {
                Keep(batch[i], hold: (op.B + i) % 3 == 0);
            }
        }

        // A reader's frame: checked, then released now or held for a later release.
        private void Keep(Frame frame, bool hold)
        {
            Check(frame);
            if (hold)
            {
                _held.Add(frame);
            }
            else
            {
                frame.Release();
            }
        }

        private void Subscribe(FrameFanOut fanOut, Op op)
        {
            Func<Frame, bool>? filter = (op.B % 5) switch
            {
                1 => f => IdOf(f) % 2 == 0,
                2 => _ => false,
                3 => f => IdOf(f) % 7 == 3 ? throw new FormatException("filter fault") : true,
                _ => null,
            };
            var queue = fanOut.Subscribe(new FanOutSubscriberOptions
            {
                CapacityFrames = 1 + (op.A % 4),
                CapacityBytes = 16 + (op.B % 100),
                DropPolicy = op.A / 4 % 2 == 0 ? FanOutDropPolicy.DropOldest : FanOutDropPolicy.DropNewest,
                Filter = filter,
            });
            _subscribers.Add(new Subscriber(queue, feedsNested: false));
        }

        // A fan-out over one of the top fan-out's subscribers: its frames are shared again, by another pump.
        private FrameFanOut Nested()
        {
            if (_nested is null)
            {
                var feed = _top.Subscribe(new FanOutSubscriberOptions { Name = "nested-feed", CapacityFrames = 4, CapacityBytes = 128 });
                _subscribers.Add(new Subscriber(feed, feedsNested: true));
                _nested = new FrameFanOut(feed, _spawner);
                _nested.Start();
                _spawner.RunUntilIdle();
            }

            return _nested;
        }

        private void Dispose(FrameFanOut? fanOut)
        {
            if (fanOut is null)
            {
                return;
            }

            ValueTask disposing = fanOut.DisposeAsync();
            _spawner.RunUntilIdle();
            disposing.AsTask().GetAwaiter().GetResult();
        }

        // The end of every schedule: the source ends, the pumps stop, and every reader drains what it
        // still owns (its buffered frames stay readable after detach, ADR 0013) and releases it.
        private void End()
        {
            _sourceRing.Complete();
            _spawner.RunUntilIdle();
            Dispose(_top);
            Dispose(_nested);

            Frame[] batch = new Frame[16];
            for (int taken; (taken = _source.TryReadBatch(batch)) > 0;)
            {
                for (int i = 0; i < taken; i++)
                {
                    Keep(batch[i], hold: false);
                }
            }

            foreach (Subscriber subscriber in _subscribers)
            {
                while (subscriber.Queue.TryRead(out Frame frame))
                {
                    Keep(frame, hold: false);
                }
            }

            _merged.Complete();
            while (_merged.TryRead(out PooledFrame pooled))
            {
                Keep(pooled.Frame, hold: false);
            }

            foreach (Frame frame in _held)
            {
                Check(frame);
                frame.Release();
            }

            _held.Clear();
        }

        private Subscriber? Pick(int index) => _subscribers.Count == 0 ? null : _subscribers[index % _subscribers.Count];

        // A message whose every byte after its 4-byte number is that number's low byte.
        private Frame Message(int size)
        {
            int id = _nextId++;
            PayloadLease lease = _pool.Rent(size);
            Span<byte> bytes = lease.Writable;
            BitConverter.TryWriteBytes(bytes, id);
            bytes[4..].Fill((byte)id);
            return Frame.Leased(FrameKind.Binary, lease);
        }

        // A read after release throws here (quarantine), and a buffer handed to two messages fails the check.
        private static void Check(in Frame frame)
        {
            ReadOnlySpan<byte> bytes = frame.Payload.Span;
            int id = BitConverter.ToInt32(bytes);
            foreach (byte b in bytes[4..])
            {
                Assert.Equal((byte)id, b);
            }
        }

        private static int IdOf(in Frame frame) => BitConverter.ToInt32(frame.Payload.Span);
    }
}
#endif

using BenchmarkDotNet.Attributes;
using Transport.WebSockets.Buffering;

namespace Transport.Benchmarks.Micro;

/// <summary>
/// Lease ownership across a fan-out (issue 26, docs/adr/0013): what it costs to give one received
/// message to N subscriber queues when the message is a pooled lease, by the two rules that keep a
/// lease from being released under a reader.
/// <list type="bullet">
/// <item><c>*Owned</c>: the baseline, owned arrays shared by every subscriber (nothing to release).</item>
/// <item><c>*CopyPerExtra</c>: the original lease goes to one subscriber, each other subscriber gets
/// its own lease (rented from the pool, the payload copied); every holder releases its own.</item>
/// <item><c>*RefCount</c>: one lease shared by all; a holder mask (one bit per subscriber, set before
/// the frame is published) is cleared bit by bit with a compare-and-swap at each release (which also
/// catches a holder releasing twice), and the last release returns the lease. A lower bound for a
/// reference-counted lease: the frame-to-mask lookup is an array index here, and the frame's one spare
/// field would have to carry the holder's bit as well as the generation.</item>
/// </list>
/// Each method does the whole journey per message: the leaf's copy into a frame, the pump's offers to
/// N <see cref="DropOldestRing"/>s, every subscriber's read (one payload byte) and release.
/// <c>SameThread*</c> runs it all on one thread, 64 messages per invocation; <c>TwoThreads*</c> is the
/// shape of a real fan-out: a pump thread produces (rents), the benchmark's thread consumes all N
/// subscribers (releases), at most 1,024 messages in flight.
/// </summary>
[MemoryDiagnoser]
public class LeaseOwnershipBenchmarks
{
    private const int Batch = 64;
    private const int Messages = 16_384;
    private const int InFlight = 1_024;
    private const int Slots = 2 * InFlight;

    private readonly Frame[] _consumed = new Frame[Batch];
    private byte[] _message = [];
    private DropOldestRing[] _rings = [];
    private SharedLease[] _shared = [];
    private long[] _readPerRing = [];
    private long _consumedAll;

    /// <summary>Subscribers every message goes to.</summary>
    [Params(2, 4)]
    public int Subscribers { get; set; }

    /// <summary>The message's payload size.</summary>
    [Params(100, 1024, 16384)]
    public int PayloadBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _message = new byte[PayloadBytes];
        _rings = [.. Enumerable.Range(0, Subscribers).Select(_ => new DropOldestRing(4 * Slots, 1L << 40))];
        _shared = [.. Enumerable.Range(0, Slots).Select(_ => new SharedLease())];
        _readPerRing = new long[Subscribers];
    }

    /// <summary>Owned arrays, shared: the baseline.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public long SameThreadOwned() => SameThread(Strategy.Owned);

    /// <summary>The original lease to one subscriber, a pooled copy to each other.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long SameThreadCopyPerExtra() => SameThread(Strategy.CopyPerExtra);

    /// <summary>One lease, a holder mask cleared by compare-and-swap at each release.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long SameThreadRefCount() => SameThread(Strategy.RefCount);

    /// <summary>Owned arrays, pump and subscribers on two threads.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long TwoThreadsOwned() => TwoThreads(Strategy.Owned);

    /// <summary>Copy per extra subscriber, pump and subscribers on two threads.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long TwoThreadsCopyPerExtra() => TwoThreads(Strategy.CopyPerExtra);

    /// <summary>Reference count, pump and subscribers on two threads.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long TwoThreadsRefCount() => TwoThreads(Strategy.RefCount);

    private long SameThread(Strategy strategy)
    {
        long sum = 0;
        for (int i = 0; i < Batch; i++)
        {
            Route(strategy, i % Slots);
            for (int s = 0; s < _rings.Length; s++)
            {
                _rings[s].TryRead(out Frame frame);
                sum += Consume(strategy, frame, s, i % Slots);
            }
        }

        return sum;
    }

    private long TwoThreads(Strategy strategy)
    {
        Array.Clear(_readPerRing);
        Volatile.Write(ref _consumedAll, 0);
        var pump = new Thread(() => Pump(strategy)) { IsBackground = true };
        pump.Start();
        long sum = 0;
        var spin = default(SpinWait);
        while (Volatile.Read(ref _consumedAll) < Messages)
        {
            bool any = false;
            long all = long.MaxValue;
            for (int s = 0; s < _rings.Length; s++)
            {
                int taken = _rings[s].TryReadBatch(_consumed);
                for (int i = 0; i < taken; i++)
                {
                    sum += Consume(strategy, _consumed[i], s, (int)(_readPerRing[s]++ % Slots));
                }

                any |= taken > 0;
                all = Math.Min(all, _readPerRing[s]);
            }

            Volatile.Write(ref _consumedAll, all);
            if (!any)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
        }

        pump.Join();
        return sum;
    }

    private void Pump(Strategy strategy)
    {
        var spin = default(SpinWait);
        for (int m = 0; m < Messages; m++)
        {
            while (m - Volatile.Read(ref _consumedAll) >= InFlight)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }

            Route(strategy, m % Slots);
        }
    }

    // The leaf's copy and the pump's offers for one message.
    private void Route(Strategy strategy, int slot)
    {
        switch (strategy)
        {
            case Strategy.Owned:
                Frame owned = PayloadAllocator.Owned.Create(FrameKind.Binary, _message);
                foreach (DropOldestRing ring in _rings)
                {
                    ring.Write(owned);
                }

                break;
            case Strategy.CopyPerExtra:
                Frame original = PayloadAllocator.Leased.Create(FrameKind.Binary, _message);
                for (int s = 1; s < _rings.Length; s++)
                {
                    _rings[s].Write(PayloadAllocator.Leased.Create(FrameKind.Binary, original.Payload.Span));
                }

                _rings[0].Write(original); // last: the pump reads the original until every copy is made
                break;
            case Strategy.RefCount:
                Frame shared = PayloadAllocator.Leased.Create(FrameKind.Binary, _message);
                _shared[slot].Hand(shared, _rings.Length);
                foreach (DropOldestRing ring in _rings)
                {
                    ring.Write(shared);
                }

                break;
        }
    }

    // A subscriber's read of one payload byte and its release.
    private long Consume(Strategy strategy, in Frame frame, int subscriber, int slot)
    {
        long value = frame.Payload.Span[0] + frame.Length;
        switch (strategy)
        {
            case Strategy.CopyPerExtra:
                frame.Release();
                break;
            case Strategy.RefCount:
                _shared[slot].Release(subscriber);
                break;
        }

        return value;
    }

    private enum Strategy
    {
        Owned,
        CopyPerExtra,
        RefCount,
    }

    /// <summary>The reference-count prototype: one bit per holder, the last clear returns the lease.</summary>
    private sealed class SharedLease
    {
        private Frame _frame;
        private int _holders;

        public void Hand(in Frame frame, int holders)
        {
            _frame = frame;
            Volatile.Write(ref _holders, (1 << holders) - 1); // published by the ring's lock after this
        }

        public void Release(int holder)
        {
            int bit = 1 << holder;
            int seen = Volatile.Read(ref _holders);
            while (true)
            {
                if ((seen & bit) == 0)
                {
                    throw new InvalidOperationException("released twice by one holder");
                }

                int prior = Interlocked.CompareExchange(ref _holders, seen & ~bit, seen);
                if (prior == seen)
                {
                    if ((seen & ~bit) == 0)
                    {
                        _frame.Release();
                    }

                    return;
                }

                seen = prior;
            }
        }
    }
}

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
/// <item><c>*Shared</c>: one lease, a hold per subscriber (what the fan-out does, <c>Frame.ShareLease</c>,
/// Lease.L9): each share sets a holder bit with a compare-and-swap, each release clears its own bit
/// with one, and the last release returns the lease.</item>
/// </list>
/// The first measurement (docs/adr/0013) compared copying against a prototype of the shared lease
/// (a holder mask beside the frame); the shared lease was chosen and this benchmark now runs it.
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

    private readonly Frame[] _consumed = new Frame[Batch];
    private byte[] _message = [];
    private DropOldestRing[] _rings = [];
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
        _rings = [.. Enumerable.Range(0, Subscribers).Select(_ => new DropOldestRing(8 * InFlight, 1L << 40))];
        _readPerRing = new long[Subscribers];
    }

    /// <summary>Owned arrays, shared: the baseline.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public long SameThreadOwned() => SameThread(Strategy.Owned);

    /// <summary>The original lease to one subscriber, a pooled copy to each other.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long SameThreadCopyPerExtra() => SameThread(Strategy.CopyPerExtra);

    /// <summary>One lease, a hold per subscriber (the fan-out's rule).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long SameThreadShared() => SameThread(Strategy.Shared);

    /// <summary>Owned arrays, pump and subscribers on two threads.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long TwoThreadsOwned() => TwoThreads(Strategy.Owned);

    /// <summary>Copy per extra subscriber, pump and subscribers on two threads.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long TwoThreadsCopyPerExtra() => TwoThreads(Strategy.CopyPerExtra);

    /// <summary>A hold per subscriber, pump and subscribers on two threads.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long TwoThreadsShared() => TwoThreads(Strategy.Shared);

    private long SameThread(Strategy strategy)
    {
        long sum = 0;
        for (int i = 0; i < Batch; i++)
        {
            Route(strategy);
            for (int s = 0; s < _rings.Length; s++)
            {
                _rings[s].TryRead(out Frame frame);
                sum += Consume(frame);
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
                _readPerRing[s] += taken;
                for (int i = 0; i < taken; i++)
                {
                    sum += Consume(_consumed[i]);
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

            Route(strategy);
        }
    }

    // The leaf's copy and the pump's offers for one message.
    private void Route(Strategy strategy)
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
            case Strategy.Shared:
                Frame shared = PayloadAllocator.Leased.Create(FrameKind.Binary, _message);
                for (int s = 1; s < _rings.Length; s++)
                {
                    _rings[s].Write(shared.ShareLease());
                }

                _rings[0].Write(shared); // last: the pump's own hold goes to the last subscriber
                break;
        }
    }

    // A subscriber's read of one payload byte and its release (a no-op for owned frames).
    private static long Consume(in Frame frame)
    {
        long value = frame.Payload.Span[0] + frame.Length;
        frame.Release();
        return value;
    }

    private enum Strategy
    {
        Owned,
        CopyPerExtra,
        Shared,
    }
}

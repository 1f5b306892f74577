using BenchmarkDotNet.Attributes;
using Transport.WebSockets.Buffering;

namespace Transport.Benchmarks.Micro;

/// <summary>The receive ring on one thread: the cost of the lock, the slot bookkeeping and eviction.</summary>
[MemoryDiagnoser]
public class RingBenchmarks
{
    private const int Capacity = 1024;
    private DropOldestRing _ring = null!;
    private DropOldestRing _full = null!;
    private Frame _frame;
    private Frame[] _batch = null!;
    private Frame[] _destination = null!;

    [GlobalSetup]
    public void Setup()
    {
        _frame = Frame.Binary(new byte[100]);
        _batch = Enumerable.Repeat(_frame, 64).ToArray();
        _destination = new Frame[64];
        _ring = new DropOldestRing(Capacity, 64L * 1024 * 1024);

        // Grow the slot array once so the steady state is measured, not the first doubling.
        for (int i = 0; i < Capacity; i++)
        {
            _ring.Write(_frame);
        }

        while (_ring.TryRead(out _))
        {
        }

        _full = new DropOldestRing(Capacity, 64L * 1024 * 1024);
        for (int i = 0; i < Capacity; i++)
        {
            _full.Write(_frame);
        }
    }

    /// <summary>One frame in, one frame out: the consumer keeping up.</summary>
    [Benchmark(Baseline = true)]
    public bool WriteThenTryRead()
    {
        _ring.Write(_frame);
        return _ring.TryRead(out _);
    }

    /// <summary>64 frames in with one WriteBatch, 64 out with one TryReadBatch: divide by 64 for the per-frame cost.</summary>
    [Benchmark(OperationsPerInvoke = 64)]
    public int WriteBatchThenTryReadBatch64()
    {
        _ring.WriteBatch(_batch);
        return _ring.TryReadBatch(_destination);
    }

    /// <summary>A write into a full ring: evicts the oldest frame (the stalled-consumer path).</summary>
    [Benchmark]
    public int WriteWithEviction() => _full.Write(_frame);
}

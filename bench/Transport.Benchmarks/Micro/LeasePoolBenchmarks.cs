using BenchmarkDotNet.Attributes;
using Transport.WebSockets.Buffering;

namespace Transport.Benchmarks.Micro;

/// <summary>
/// Lease mode's pool, without a socket (issue 14): 100 B payloads copied into frames (owned arrays
/// or leases from <see cref="PayloadLeasePool"/>), then released. <see cref="SameThread"/> rents and
/// releases on one thread; <see cref="TwoThreads"/> is the receive path's shape: a producer thread
/// copies each message into a frame and hands batches of 64 to a <see cref="DropOldestRing"/>, the
/// benchmark's thread reads batches of 64 and releases each frame, so rents and returns happen on
/// two threads at once (the pool's lock, if any, is contended there). <see cref="TwoThreads"/> lets
/// the producer run ahead (as the receive scenario's unbounded ring does: leases beyond what the pool
/// keeps idle are created and later dropped); <see cref="TwoThreadsBounded"/> holds at most 1,024
/// frames in flight (a bounded ring's steady state), so it measures the pool alone.
/// </summary>
[MemoryDiagnoser]
public class LeasePoolBenchmarks
{
    private const int Messages = 65_536;
    private const int Batch = 64;
    private readonly byte[] _message = new byte[100];
    private readonly Frame[] _produced = new Frame[Batch];
    private readonly Frame[] _consumed = new Frame[Batch];
    private DropOldestRing _ring = null!;
    private PayloadAllocator _payloads = null!;

    /// <summary>Lease mode (pooled payloads) or owned arrays.</summary>
    [Params(false, true)]
    public bool Leased { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payloads = PayloadAllocator.For(Leased);
        _ring = new DropOldestRing(4 * Messages, 1L << 40); // never evicts: the producer may run ahead
    }

    /// <summary>Copy into a frame and release it at once, 64 times, on one thread.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int SameThread()
    {
        int length = 0;
        for (int i = 0; i < Batch; i++)
        {
            Frame frame = _payloads.Create(FrameKind.Binary, _message);
            length += frame.Length;
            frame.Release();
        }

        return length;
    }

    /// <summary>65,536 messages: copied into frames on a producer thread, released on this one.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long TwoThreads() => Run(int.MaxValue);

    /// <summary>As <see cref="TwoThreads"/>, the producer waiting while more than 1,024 frames are in flight.</summary>
    [Benchmark(OperationsPerInvoke = Messages)]
    public long TwoThreadsBounded() => Run(1_024);

    private long Run(int inFlight)
    {
        var producer = new Thread(() => Produce(inFlight)) { IsBackground = true };
        producer.Start();
        long received = 0;
        long bytes = 0;
        var spin = default(SpinWait);
        while (received < Messages)
        {
            int taken = _ring.TryReadBatch(_consumed);
            if (taken == 0)
            {
                spin.SpinOnce(sleep1Threshold: -1);
                continue;
            }

            for (int i = 0; i < taken; i++)
            {
                bytes += _consumed[i].Payload.Span[0] + _consumed[i].Length;
                _consumed[i].Release();
            }

            received += taken;
        }

        producer.Join();
        return bytes;
    }

    private void Produce(int inFlight)
    {
        var spin = default(SpinWait);
        for (int sent = 0; sent < Messages; sent += Batch)
        {
            while (_ring.Count > inFlight)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }

            for (int i = 0; i < Batch; i++)
            {
                _produced[i] = _payloads.Create(FrameKind.Binary, _message);
            }

            _ring.WriteBatch(_produced);
        }
    }
}

using System.Diagnostics;

namespace Transport.Benchmarks.Infrastructure;

/// <summary>
/// Time, process-wide allocated bytes and GC counts around one timed region. Allocation is
/// process-wide (the in-process server is included), so figures are compared against the raw
/// client measured the same way, never read alone. CPU time is the process's (user + kernel, every
/// thread, the server's included): on a shared machine it moves far less than wall-clock rates.
/// </summary>
internal sealed class Measurement
{
    private readonly long _start;
    private readonly long _allocated;
    private readonly int _gen0;
    private readonly int _gen1;
    private readonly int _gen2;
    private readonly TimeSpan _cpu;

    private Measurement()
    {
        _allocated = GC.GetTotalAllocatedBytes(precise: true);
        _gen0 = GC.CollectionCount(0);
        _gen1 = GC.CollectionCount(1);
        _gen2 = GC.CollectionCount(2);
        _cpu = Environment.CpuUsage.TotalTime;
        _start = Stopwatch.GetTimestamp();
    }

    public static Measurement Start() => new();

    public RunSample Stop(string client, long messages, long payloadBytes)
    {
        var elapsed = Stopwatch.GetElapsedTime(_start);
        return new RunSample(
            client,
            messages,
            payloadBytes,
            elapsed,
            GC.GetTotalAllocatedBytes(precise: true) - _allocated,
            GC.CollectionCount(0) - _gen0,
            GC.CollectionCount(1) - _gen1,
            GC.CollectionCount(2) - _gen2,
            Environment.CpuUsage.TotalTime - _cpu);
    }
}

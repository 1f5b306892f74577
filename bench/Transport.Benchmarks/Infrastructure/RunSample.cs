namespace Transport.Benchmarks.Infrastructure;

/// <summary>One timed run of one client.</summary>
internal sealed record RunSample(string Client, long Messages, long PayloadBytes, TimeSpan Elapsed, long AllocatedBytes, int Gen0, int Gen1, int Gen2, TimeSpan Cpu)
{
    /// <summary>Process CPU time (all threads, server included) per message, in nanoseconds.</summary>
    public double CpuNsPerMessage => Cpu.TotalNanoseconds / Messages;

    /// <summary>Optional: frames per consumer read call (ReadBatchAsync/TryRead loops), when the client counts it.</summary>
    public double FramesPerRead { get; init; } = double.NaN;

    public double MessagesPerSecond => Messages / Elapsed.TotalSeconds;

    public double MegabytesPerSecond => PayloadBytes / Elapsed.TotalSeconds / 1e6;

    public double AllocatedPerMessage => (double)AllocatedBytes / Messages;
}

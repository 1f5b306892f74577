namespace Transport.Benchmarks.Infrastructure;

/// <summary>One timed run of one client.</summary>
internal sealed record RunSample(string Client, long Messages, long PayloadBytes, TimeSpan Elapsed, long AllocatedBytes, int Gen0, int Gen1, int Gen2)
{
    public double MessagesPerSecond => Messages / Elapsed.TotalSeconds;

    public double MegabytesPerSecond => PayloadBytes / Elapsed.TotalSeconds / 1e6;

    public double AllocatedPerMessage => (double)AllocatedBytes / Messages;
}

namespace Transport.Benchmarks.Infrastructure;

/// <summary>Counts and rounds: full (the documented figures) or quick (CI: checks the harness, not the timings).</summary>
internal sealed record Settings(bool Quick)
{
    public int Rounds => Quick ? 1 : 5;

    public long Scale(long full, long quick) => Quick ? quick : full;

    public CancellationToken Deadline(TimeSpan full) =>
        new CancellationTokenSource(Quick ? TimeSpan.FromSeconds(20) : full).Token;
}

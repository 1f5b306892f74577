namespace Transport.Benchmarks.Infrastructure;

/// <summary>Counts and rounds: full (the documented figures) or quick (CI: checks the harness, not the timings).</summary>
internal sealed record Settings(bool Quick)
{
    /// <summary>Rounds per scenario: 1 quick, 5 full, or BENCH_ROUNDS when set (diagnostic runs).</summary>
    public int Rounds => Quick ? 1 : int.TryParse(Environment.GetEnvironmentVariable("BENCH_ROUNDS"), out int r) && r > 0 ? r : 5;

    public long Scale(long full, long quick) => Quick ? quick : full;

    public CancellationToken Deadline(TimeSpan full) =>
        new CancellationTokenSource(Quick ? TimeSpan.FromSeconds(20) : full).Token;
}

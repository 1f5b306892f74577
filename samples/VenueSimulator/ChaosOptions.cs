namespace VenueSimulator;

/// <summary>
/// Random faults for demos: every <see cref="Interval"/> each live connection is dropped
/// with <see cref="DropProbability"/> or stalled with <see cref="StallProbability"/>.
/// Seeded from <see cref="SimulatorOptions.Seed"/> so a demo run can be replayed.
/// </summary>
public sealed class ChaosOptions
{
    /// <summary>Master switch.</summary>
    public bool Enabled { get; set; }

    /// <summary>How often the dice are rolled (default 1 s: probabilities are per second).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Probability per interval and connection of a TCP abort.</summary>
    public double DropProbability { get; set; } = 0.02;

    /// <summary>Probability per interval and connection of a stall.</summary>
    public double StallProbability { get; set; } = 0.02;

    /// <summary>How long a random stall lasts.</summary>
    public TimeSpan StallDuration { get; set; } = TimeSpan.FromSeconds(5);

    internal void Validate()
    {
        if (Interval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Interval), Interval, "Must be positive.");
        if (DropProbability is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(DropProbability), DropProbability, "Must be 0..1.");
        if (StallProbability is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(StallProbability), StallProbability, "Must be 0..1.");
        if (StallDuration <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(StallDuration), StallDuration, "Must be positive.");
    }
}

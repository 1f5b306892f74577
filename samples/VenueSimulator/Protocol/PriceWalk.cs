namespace VenueSimulator.Protocol;

/// <summary>
/// A multiplicative random walk rounded to cents. Owned by one subscription's tick loop, so
/// it needs no locking; seeded by the session so a seeded run is reproducible.
/// </summary>
internal sealed class PriceWalk
{
    // +-0.1 % per step: visible movement without drifting to zero in a demo's lifetime.
    private const double MaxStepFraction = 0.001;
    private readonly Random _random;
    private double _price;

    public PriceWalk(double initialPrice, Random random)
    {
        _price = initialPrice;
        _random = random;
    }

    public double Current => Math.Round(_price, 2);

    public double Next()
    {
        var step = (_random.NextDouble() * 2 - 1) * MaxStepFraction;
        _price = Math.Max(0.01, _price * (1 + step));
        return Current;
    }
}

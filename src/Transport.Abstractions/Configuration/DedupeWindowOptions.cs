namespace Transport;

/// <summary>
/// The bounds of a dedupe window: the keys of recently delivered frames, remembered so that the same
/// venue message received again on another socket is recognised and dropped. Bounded by count and by
/// age; whichever is reached first evicts the oldest key.
/// </summary>
/// <remarks>
/// Size it to the skew between the sockets: a copy is caught only while the first one's key is still
/// in the window, so <see cref="MaxAge"/> must exceed the longest delay between two sockets' copies of
/// one message (including a replay from a resume cursor) and <see cref="MaxKeys"/> must exceed the
/// number of distinct keys that arrive within that delay (message rate x skew). At the defaults
/// (100,000 keys, 10 s) a feed of 10,000 messages/s is covered for 10 s of skew; at 100,000/s the
/// count bound covers 1 s. Memory: 32 to 40 bytes per key held (about 4 MB at the default bound),
/// reached only if that many keys were ever held at once. Plain data, bindable from configuration
/// (<c>"Dedupe": { "MaxKeys": 100000, "MaxAge": "00:00:10" }</c>).
/// </remarks>
public sealed record DedupeWindowOptions
{
    /// <summary>The default of <see cref="MaxKeys"/>: 100,000 (the receive ring's default frame bound).</summary>
    public const int DefaultMaxKeys = 100_000;

    /// <summary>The most keys the window remembers (1 to 16,777,216). Default 100,000.</summary>
    public int MaxKeys { get; set; } = DefaultMaxKeys;

    /// <summary>
    /// How long a key is remembered after its first arrival (1 ms to 1 day). Default 10 s (the window
    /// Pyth's client keeps for its four sockets). A copy that arrives exactly this long after the first
    /// is still caught; a later one is delivered again.
    /// </summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest <see cref="MaxKeys"/> accepted: 16,777,216 (about 670 MB at the bound).</summary>
    internal const int MaxKeysLimit = 1 << 24;

    /// <summary>Checks the bounds.</summary>
    /// <param name="owner">The path of these options in their owner (for example "RedundantOptions.Dedupe"), used in the message.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bound is out of range; the message names the field.</exception>
    internal void Validate(string owner)
    {
        if (MaxKeys is < 1 or > MaxKeysLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxKeys), MaxKeys, $"{owner}.{nameof(MaxKeys)} must be between 1 and {MaxKeysLimit:N0}.");
        }

        if (MaxAge < TimeSpan.FromMilliseconds(1) || MaxAge > TimeSpan.FromDays(1))
        {
            throw new ArgumentOutOfRangeException(nameof(MaxAge), MaxAge, $"{owner}.{nameof(MaxAge)} must be between 1 ms and 1 day.");
        }
    }
}

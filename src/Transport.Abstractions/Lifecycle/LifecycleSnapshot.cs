namespace Transport;

/// <summary>
/// The state of a reconnecting connection. Every field is a level or a cumulative count, never a
/// per-event delta, so a consumer that wakes late and sees only the newest snapshot still
/// learns everything that matters: "epoch went 5 -> 9" means four down-cycles it did not see.
/// </summary>
/// <param name="Phase">The current phase.</param>
/// <param name="Epoch">Completed down-cycles: 0 for the first connection, +1 each time a connection is re-established.</param>
/// <param name="Version">Bumped on every published change; what "wait for the next change" keys on.</param>
/// <param name="DownSince">
/// Since when the feed has not been up, whenever it is not up; null while up (Connected, Stale,
/// Resumed). Set in every phase where <see cref="IsUp"/> is false: while <c>Connecting</c> (from the
/// moment the connection starts, before the first attempt), <c>Reconnecting</c> (from the down-edge),
/// and in the terminal <c>Unrecoverable</c> and <c>Closed</c> (kept from the outage, or the instant of
/// a shutdown from up). When a liveness timeout detected the loss, this is the last sign of life (the last frame the
/// leaf saw), not the moment of detection: the blind time is never understated.
/// </param>
/// <param name="Attempts">Cumulative connect attempts, successful or not.</param>
/// <param name="TotalLagged">Cumulative data frames evicted from the receive ring (dropped, signalled).</param>
/// <param name="Exhausted">Sticky: a voluntary <c>MaxAttempts</c> cap ran out.</param>
/// <param name="LastError">The most recent failure, if any (its message carries no secrets).</param>
public sealed record LifecycleSnapshot(
    ConnectionPhase Phase,
    long Epoch,
    long Version,
    DateTimeOffset? DownSince,
    long Attempts,
    long TotalLagged,
    bool Exhausted,
    TransportException? LastError)
{
    /// <summary>
    /// When the current up-period began (the up-edge was published), while the feed is up
    /// (Connected, Stale, Resumed); otherwise null. A level: a consumer that wakes late still learns
    /// when the feed came back.
    /// </summary>
    public DateTimeOffset? UpSince { get; init; }

    /// <summary>
    /// How long the most recent completed outage lasted (from <see cref="DownSince"/> to the up-edge of
    /// the next session); null until a reconnect has completed. Survives coalescing: after a short
    /// outage that a slow consumer never saw as Reconnecting, this and <see cref="Epoch"/> still say it happened.
    /// </summary>
    public TimeSpan? LastOutage { get; init; }

    /// <summary>The snapshot before anything happened.</summary>
    public static LifecycleSnapshot Initial { get; } = new(ConnectionPhase.Connecting, 0, 0, null, 0, 0, false, null);

    /// <summary>True for Unrecoverable and Closed.</summary>
    public bool IsTerminal => Phase is ConnectionPhase.Unrecoverable or ConnectionPhase.Closed;

    /// <summary>True while frames can flow (Connected, Stale, Resumed).</summary>
    public bool IsUp => Phase is ConnectionPhase.Connected or ConnectionPhase.Stale or ConnectionPhase.Resumed;

    /// <summary>One line, safe to log.</summary>
    public override string ToString() =>
        $"{Phase} epoch={Epoch} v={Version} attempts={Attempts} lagged={TotalLagged}" +
        (Exhausted ? " exhausted" : string.Empty) +
        (DownSince is { } d ? $" downSince={d:O}" : string.Empty) +
        (UpSince is { } u ? $" upSince={u:O}" : string.Empty) +
        (LastOutage is { } o ? $" lastOutage={o}" : string.Empty) +
        (LastError is { } e ? $" lastError={e.Kind}" : string.Empty);
}

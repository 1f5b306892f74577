namespace Transport.WebSockets.Legs;

/// <summary>One leg of a redundant connection as it is now: its own lifecycle and what it contributed to the merged source.</summary>
/// <param name="Index">The leg's position in <see cref="RedundantConnectionOptions.Legs"/> (its preference order).</param>
/// <param name="Name">The leg's name.</param>
/// <param name="Lifecycle">The leg's own lifecycle snapshot (phase, epoch, down-since, attempts, its ring's TotalLagged).</param>
/// <param name="IsPrimary">True for the primary leg: the first up leg in order, which carries sends and the unkeyed frames.</param>
/// <param name="Wins">Cumulative keyed frames this leg delivered first.</param>
/// <param name="Duplicates">Cumulative keyed frames this leg received after another leg had delivered them (dropped).</param>
/// <param name="Unkeyed">Cumulative frames without a key delivered from this leg.</param>
/// <param name="UnkeyedDropped">Cumulative frames without a key dropped because this leg was not the primary.</param>
/// <param name="Behind">
/// How far behind the delivered copy this leg's duplicates arrive, by receive time (a moving average of about
/// the last 16): the leg's lag behind the fastest one. Zero for a leg that wins every race or has no duplicates.
/// </param>
public sealed record LegState(int Index, string Name, LifecycleSnapshot Lifecycle, bool IsPrimary, long Wins, long Duplicates, long Unkeyed, long UnkeyedDropped, TimeSpan Behind)
{
    /// <summary>True while this leg is up (Connected, Stale or Resumed).</summary>
    public bool IsUp => Lifecycle.IsUp;

    /// <summary>One line, safe to log.</summary>
    public override string ToString() =>
        $"{Name}: {Lifecycle.Phase} epoch={Lifecycle.Epoch}{(IsPrimary ? " primary" : string.Empty)} wins={Wins} dups={Duplicates} unkeyed={Unkeyed}/{UnkeyedDropped} behind={Behind.TotalMilliseconds:0.###}ms";
}

/// <summary>
/// A redundant connection as it is now: the aggregate lifecycle (the one an adapter holds), every leg's state,
/// and the merged source's counts. Every field is a level or a cumulative count.
/// </summary>
/// <param name="Aggregate">The aggregate lifecycle: up while any leg is up, down only when every leg is down; its epoch counts the aggregate's down-cycles (the moments the merged feed may have a gap).</param>
/// <param name="Legs">Every leg, in order.</param>
/// <param name="Delivered">Cumulative frames the merged source accepted (before its own drop-oldest bound).</param>
/// <param name="Dropped">Cumulative frames the arbiter dropped: duplicates and the unkeyed frames of non-primary legs.</param>
/// <param name="WindowKeys">Keys in the dedupe window now.</param>
/// <param name="WindowEvictedEarly">
/// Cumulative keys the dedupe window evicted by its count bound (before their age ran out): a late copy of one of
/// them would be delivered again. Growing steadily, it says <see cref="RedundantConnectionOptions.Dedupe"/>'s
/// MaxKeys is too small for the message rate times the skew between legs.
/// </param>
public sealed record RedundantSnapshot(LifecycleSnapshot Aggregate, IReadOnlyList<LegState> Legs, long Delivered, long Dropped, int WindowKeys, long WindowEvictedEarly)
{
    /// <summary>Legs up now.</summary>
    public int Up => Legs.Count(l => l.IsUp);

    /// <summary>True while the aggregate is up but at least one leg is not: the feed flows without its redundancy.</summary>
    public bool IsDegraded => Aggregate.IsUp && Up < Legs.Count;

    /// <summary>While degraded, since when: the earliest down-since of the legs down now; null otherwise.</summary>
    public DateTimeOffset? DegradedSince => IsDegraded ? Legs.Where(l => !l.IsUp).Select(l => l.Lifecycle.DownSince).Where(d => d is not null).Min() : null;

    /// <summary>The primary leg's index; -1 when no leg is up.</summary>
    public int Primary => Legs.FirstOrDefault(l => l.IsPrimary)?.Index ?? -1;

    /// <summary>Cumulative keyed frames won, summed over the legs.</summary>
    public long Wins => Legs.Sum(l => l.Wins);

    /// <summary>Cumulative duplicates dropped, summed over the legs.</summary>
    public long Duplicates => Legs.Sum(l => l.Duplicates);

    /// <summary>One line, safe to log.</summary>
    public override string ToString() =>
        $"legs: {Up}/{Legs.Count} up{(IsDegraded ? " (degraded)" : string.Empty)}, {Aggregate.Phase} epoch={Aggregate.Epoch}, delivered={Delivered} dropped={Dropped} window={WindowKeys}" +
        (WindowEvictedEarly > 0 ? $" evictedEarly={WindowEvictedEarly}" : string.Empty) + "; " + string.Join("; ", Legs);
}

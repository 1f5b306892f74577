namespace TradingAdapters.State;

/// <summary>A read-only copy of one topic's state, for views and tests.</summary>
/// <param name="Topic">The topic name.</param>
/// <param name="Live">True once the current subscription is confirmed; false while a (re)subscribe is in flight.</param>
/// <param name="Epoch">The connection epoch the current subscription was made on.</param>
/// <param name="LastSeq">The sequence number of the last accepted tick (or snapshot) of the current subscription.</param>
/// <param name="LastPrice">The last price seen, kept across subscriptions.</param>
/// <param name="Ticks">Ticks accepted since start.</param>
/// <param name="Gaps">Sequence gaps detected.</param>
/// <param name="Resubscribes">Resubscribes of this topic alone (gap or staleness), not counting epoch replays.</param>
/// <param name="LastTickAt">When the last tick was accepted.</param>
public sealed record TopicView(
    string Topic, bool Live, long Epoch, long LastSeq, decimal? LastPrice, long Ticks, long Gaps, long Resubscribes, DateTimeOffset? LastTickAt);

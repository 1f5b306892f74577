namespace TradingAdapters.State;

/// <summary>What <see cref="TopicBook.OnTick"/> decided about one tick.</summary>
public enum TickOutcome
{
    /// <summary>In sequence; state updated.</summary>
    Accepted,

    /// <summary>The first tick of a new subscription (seq 1 after the subscribed reply).</summary>
    AcceptedFirst,

    /// <summary>Not part of a confirmed subscription (an old one, or a topic we do not follow): dropped.</summary>
    Ignored,

    /// <summary>The seq was not last+1: the topic must be resubscribed.</summary>
    Gap,
}

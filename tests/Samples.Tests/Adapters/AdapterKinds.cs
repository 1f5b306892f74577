using TradingAdapters;

namespace Samples.Tests.Adapters;

/// <summary>Both adapters with settings for fast tests; shared behaviours run as theories over these.</summary>
internal static class AdapterKinds
{
    public const string Binance = "binance";
    public const string Ibkr = "ibkr";

    public static TheoryData<string> Both => new() { Binance, Ibkr };

    public static Func<FeedAdapter> Create(string kind, IEnumerable<string> topics) => kind switch
    {
        Binance => () => new BinanceLikeAdapter(topics),
        // Topic silence is not what the shared theories test, and on a loaded machine a real-time
        // threshold near the tick interval can trip on a stalled thread pool: far above any stall.
        // The silence test itself drives the adapter's clock by hand (RecoveryTests).
        _ => () => new IbkrLikeAdapter(topics, staleTopicAfter: TimeSpan.FromSeconds(30)),
    };
}

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
        // Staleness well above the tick interval, so only a topic that really went silent trips it.
        _ => () => new IbkrLikeAdapter(topics, staleTopicAfter: TimeSpan.FromSeconds(1)),
    };
}

using TradingAdapters;

namespace ConsoleSubscriber.Views;

/// <summary>A way of showing the feed while it runs: the live table or plain lines.</summary>
internal interface IFeedView
{
    /// <summary>Something happened (phase change, gap, replay...).</summary>
    void Event(string text);

    /// <summary>Renders until <paramref name="cancellationToken"/> fires.</summary>
    Task RunAsync(FeedMonitor monitor, FeedAdapter adapter, CancellationToken cancellationToken);
}

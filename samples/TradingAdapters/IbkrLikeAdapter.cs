using TradingAdapters.Protocol;
using Transport;

namespace TradingAdapters;

/// <summary>
/// An IBKR-Client-Portal-like adapter: market-data topics sometimes just stop ticking while the
/// socket and the other topics carry on, and the session needs an application-level keepalive
/// (IBKR's <c>tic</c>/<c>/tickle</c>). So this adapter watches each topic's silence and
/// resubscribes that topic alone, and pings the session on a timer.
/// </summary>
/// <remarks>
/// A silent topic is not a dead connection: reconnecting would cost every topic a gap to fix
/// one. The transport's idle timeouts still catch a connection where nothing at all arrives.
/// </remarks>
public sealed class IbkrLikeAdapter : FeedAdapter
{
    private readonly TimeSpan _staleTopicAfter;
    private readonly TimeSpan? _keepAliveInterval;

    /// <param name="topics">Topics to follow.</param>
    /// <param name="staleTopicAfter">A topic silent this long is resubscribed; several tick intervals.</param>
    /// <param name="keepAliveInterval">Period of the application ping; null disables.</param>
    /// <param name="time">Clock of both timers.</param>
    public IbkrLikeAdapter(IEnumerable<string> topics, TimeSpan staleTopicAfter, TimeSpan? keepAliveInterval = null, TimeProvider? time = null)
        : base(topics, time)
    {
        if (staleTopicAfter <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(staleTopicAfter), staleTopicAfter, "Must be positive.");
        if (keepAliveInterval is { } k && k <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(keepAliveInterval), k, "Must be positive.");
        _staleTopicAfter = staleTopicAfter;
        _keepAliveInterval = keepAliveInterval;
    }

    /// <inheritdoc />
    public override string Name => "ibkr";

    /// <inheritdoc />
    protected override IEnumerable<Task> RunVenueTimersAsync(CancellationToken cancellationToken)
    {
        yield return WatchTopicsAsync(cancellationToken);
        if (_keepAliveInterval is { } interval) yield return KeepAliveAsync(interval, cancellationToken);
    }

    // Checking at half the threshold bounds detection at 1.5x the threshold.
    private async Task WatchTopicsAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_staleTopicAfter / 2, Time);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            // While down every topic is silent; the replay on the next epoch handles them.
            if (CurrentUpEpoch() is null) continue;
            foreach (var topic in Book.StaleTopics(Time.GetUtcNow(), _staleTopicAfter))
            {
                await ResubscribeAsync(topic, $"silent for over {_staleTopicAfter.TotalSeconds:0.#} s").ConfigureAwait(false);
            }
        }
    }

    private async Task KeepAliveAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval, Time);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            // Pinned: a ping queued for a connection that died is pointless on the next one.
            if (CurrentUpEpoch() is not { } epoch) continue;
            Counters.Ping();
            await SendPinnedAsync(VenueCommands.Ping(Book.NextId()), epoch).ConfigureAwait(false);
        }
    }
}

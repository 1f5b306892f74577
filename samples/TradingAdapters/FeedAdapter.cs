using TradingAdapters.Protocol;
using TradingAdapters.State;
using Transport;

namespace TradingAdapters;

/// <summary>
/// What both venue adapters share: the session initializer that replays subscriptions on each new
/// socket (before the transport releases queued frames or publishes the up-edge), the frame pump
/// with per-topic sequence checking, and the lifecycle watcher that reconciles when the receive
/// ring dropped frames. Venue-specific timers come from <see cref="RunVenueTimersAsync"/>.
/// </summary>
/// <remarks>
/// Wiring: create the adapter first, register it as the transport's session initializer, connect,
/// then <see cref="RunAsync(ReconnectingConnection, CancellationToken)"/>:
/// <code>
/// var adapter = new BinanceLikeAdapter(topics);
/// var connector = new WebSocketTransportBuilder().Configure(...).WithSessionInitializer(adapter).Build();
/// await adapter.RunAsync(connector.Start(), cancellationToken); // Start: the adapter watches the lifecycle from the first attempt
/// </code>
/// Invariants:
/// <list type="bullet">
/// <item>R1 every subscribe is pinned to the epoch it was decided on: the replay goes out through the
/// session context's sink (pinned to the new socket, ahead of anything queued), so a replay still
/// pending when that connection dies fails with StaleEpoch instead of leaking onto the next socket
/// (whose own replay covers it).</item>
/// <item>R2 a topic is resubscribed alone (gap, staleness) without touching the connection; only the
/// venue timers of <see cref="BinanceLikeAdapter"/> reconnect on purpose.</item>
/// <item>R3 ticks are trusted only between a subscribe's reply and the first out-of-sequence tick (<see cref="TopicBook"/>).</item>
/// </list>
/// </remarks>
public abstract class FeedAdapter : ISessionInitializer
{
    private readonly CancellationTokenSource _stopping = new();
    private ReconnectingConnection? _connection;

    /// <summary>Creates an adapter for <paramref name="topics"/>; register it as the session initializer, then run it over the connection.</summary>
    protected FeedAdapter(IEnumerable<string> topics, TimeProvider? time)
    {
        Book = new TopicBook(topics);
        Time = time ?? TimeProvider.System;
    }

    /// <summary>A short name for views ("binance", "ibkr").</summary>
    public abstract string Name { get; }

    /// <summary>Per-topic state and counters.</summary>
    public TopicBook Book { get; }

    /// <summary>Connection-wide counters.</summary>
    public AdapterCounters Counters { get; } = new();

    /// <summary>Human-readable notes on what the adapter did and why (gap, replay, rotation...).</summary>
    public event Action<string>? Notice;

    /// <summary>The clock of every timer, injectable for tests.</summary>
    protected TimeProvider Time { get; }

    /// <summary>Fires when <see cref="RunAsync(ReconnectingConnection, CancellationToken)"/> has ended: timers armed by the initializer stop with it.</summary>
    protected CancellationToken Stopping => _stopping.Token;

    /// <summary>The connection the adapter drives (set by <see cref="RunAsync(ReconnectingConnection, CancellationToken)"/>).</summary>
    protected ReconnectingConnection Connection => _connection ?? throw new InvalidOperationException("The adapter is not running over a connection yet.");

    /// <summary>
    /// The session initializer: replays every subscription on the new socket through the context's
    /// pinned sink. The transport runs it before queued frames and before Connected/Resumed, so no
    /// resubscribe or order queued while down can precede the replay. The subscribe replies arrive
    /// through the source as usual (the pump marks the topics live).
    /// </summary>
    public async ValueTask InitializeAsync(ISessionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        await ReplayAsync(context).ConfigureAwait(false);
        OnEpochStarted(context.Epoch, cancellationToken);
    }

    /// <summary>
    /// Runs the pump, the lifecycle watcher and the venue timers over <paramref name="connection"/> until
    /// <paramref name="cancellationToken"/> fires or the connection reaches a terminal phase.
    /// </summary>
    public Task RunAsync(ReconnectingConnection connection, CancellationToken cancellationToken) =>
        RunAsync(connection, (connection ?? throw new ArgumentNullException(nameof(connection))).Source, cancellationToken);

    /// <summary>
    /// As <see cref="RunAsync(ReconnectingConnection, CancellationToken)"/>, reading the frames from
    /// <paramref name="frames"/> (for example a fan-out subscriber, so a recorder reads the same feed
    /// beside it: see <see cref="Recording.RecordedFeed"/>) instead of the connection's own source.
    /// </summary>
    public async Task RunAsync(ReconnectingConnection connection, IFrameSource frames, CancellationToken cancellationToken)
    {
        _connection = connection ?? throw new ArgumentNullException(nameof(connection));
        ArgumentNullException.ThrowIfNull(frames);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watcher = WatchLifecycleAsync(stop.Token);
        Task[] all = [watcher, PumpAsync(frames, stop.Token), .. RunVenueTimersAsync(stop.Token)];
        // The watcher ends on a terminal phase: then nothing else has work left either.
        await Task.WhenAny(all).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(all).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The normal way out.
        }
        finally
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Handles one frame from the source. Public so a test can feed crafted frames (a sequence gap)
    /// without a venue that misbehaves on cue.
    /// </summary>
    public void HandleFrame(Frame frame)
    {
        try
        {
            Handle(frame);
        }
        finally
        {
            Counters.Changed.Pulse(); // the frame is handled: counters and book are up to date
        }
    }

    private void Handle(Frame frame)
    {
        Counters.Frame();
        var message = VenueMessage.Parse(frame);
        if (message is null)
        {
            Counters.NotParsed();
            return;
        }
        var now = Time.GetUtcNow();
        switch (message.Type)
        {
            case "tick" when message is { Topic: { } topic, Seq: { } seq }:
                OnTick(topic, seq, message.Price, now);
                break;
            case "snapshot" when message is { Topic: { } topic, Seq: { } seq }:
                Book.OnSnapshot(topic, seq, now);
                break;
            case "subscribed" when message.Id is { } id:
                Book.OnSubscribed(id, message.Topics, now);
                break;
            case "pong":
                Counters.Pong();
                break;
            case "error":
                Note($"venue error (request {message.Id?.ToString() ?? "-"})");
                break;
        }
    }

    /// <summary>Timers of this venue (staleness, keepalive, rotation); each runs until the token fires.</summary>
    protected abstract IEnumerable<Task> RunVenueTimersAsync(CancellationToken cancellationToken);

    /// <summary>Called once per epoch after its subscriptions were replayed (from the session initializer).</summary>
    protected virtual void OnEpochStarted(long epoch, CancellationToken cancellationToken)
    {
    }

    /// <summary>Resubscribes one topic on the current connection (R2); a no-op while down, the next replay covers it.</summary>
    protected async Task ResubscribeAsync(string topic, string why)
    {
        if (CurrentUpEpoch() is not { } epoch) return;
        Counters.Resubscribe();
        Note($"{topic}: {why}; resubscribing on epoch {epoch}");
        var id = Book.BeginSubscribe(topic, epoch, Time.GetUtcNow(), single: true);
        await SendPinnedAsync(VenueCommands.Subscribe(topic, id), epoch).ConfigureAwait(false);
    }

    /// <summary>Sends a frame pinned to <paramref name="epoch"/>; a stale epoch or shutdown is counted, not thrown.</summary>
    protected async Task SendPinnedAsync(Frame frame, long epoch)
    {
        try
        {
            await Connection.Sink.SendAsync(frame, SendOptions.PinnedTo(epoch)).ConfigureAwait(false);
        }
        catch (TransportException e) when (e.Kind is TransportErrorKind.StaleEpoch or TransportErrorKind.Shutdown or TransportErrorKind.Cancelled)
        {
            // R1: that connection is gone; the next epoch's replay resends what matters.
            Counters.SendFailed();
        }
    }

    /// <summary>The epoch of the live connection, or null while down.</summary>
    protected long? CurrentUpEpoch() => _connection?.Lifecycle.Current is { IsUp: true } s ? s.Epoch : null;

    /// <summary>Raises <see cref="Notice"/>.</summary>
    protected void Note(string text) => Notice?.Invoke(text);

    private void OnTick(string topic, long seq, decimal? price, DateTimeOffset now)
    {
        switch (Book.OnTick(topic, seq, price, now, out var epoch))
        {
            case TickOutcome.Gap:
                Counters.Gap();
                // Fire and forget on purpose: the pump must keep draining while the resubscribe waits for a send permit.
                _ = ResubscribeAsync(topic, $"sequence gap at seq {seq}");
                break;
            case TickOutcome.AcceptedFirst when Book.Snapshot().All(t => t.Live && t.Epoch == epoch) && FirstTickOf(epoch):
                Note($"all {Book.Topics.Count} topics ticking on epoch {epoch}");
                break;
        }
    }

    private long _lastAnnouncedEpoch = -1;

    // True once per epoch: the moment every topic has ticked on it.
    private bool FirstTickOf(long epoch)
    {
        var seen = Interlocked.Read(ref _lastAnnouncedEpoch);
        return epoch > seen && Interlocked.CompareExchange(ref _lastAnnouncedEpoch, epoch, seen) == seen;
    }

    private async Task PumpAsync(IFrameSource frames, CancellationToken cancellationToken)
    {
        await foreach (var frame in frames.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            HandleFrame(frame);
        }
    }

    // Replay is the session initializer's job now; this watches only for the end and for lag.
    private async Task WatchLifecycleAsync(CancellationToken cancellationToken)
    {
        long version = -1, lagged = 0;
        while (true)
        {
            var s = await Connection.Lifecycle.WaitForChangeAsync(version, cancellationToken).ConfigureAwait(false);
            version = s.Version;
            if (s.IsTerminal) return;
            if (s.TotalLagged > lagged)
            {
                lagged = s.TotalLagged;
                if (s.IsUp) await ReconcileAsync(s.Epoch, lagged).ConfigureAwait(false);
            }
        }
    }

    // A new connection knows nothing of our subscriptions: send them all again on it (R1). The
    // context's sink is pinned to the new socket and paced by the transport's rate limit, not by us.
    private async Task ReplayAsync(ISessionContext context)
    {
        var epoch = context.Epoch;
        Counters.Replay();
        Note(epoch == 0 ? "connected: subscribing" : $"epoch {epoch}: replaying {Book.Topics.Count} subscriptions");
        var now = Time.GetUtcNow();
        foreach (var topic in Book.Topics)
        {
            await context.Sink.SendAsync(VenueCommands.Subscribe(topic, Book.BeginSubscribe(topic, epoch, now, single: false))).ConfigureAwait(false);
        }
    }

    // Frames were evicted unread, so any topic may have lost a tick we cannot see yet, or the reply
    // to a subscribe. Conservative: re-base every live topic on a fresh snapshot rather than guess
    // which ones lost something, and resubscribe the ones whose reply may have been the casualty.
    private Task ReconcileAsync(long epoch, long lagged)
    {
        Counters.Reconcile();
        Note($"receive ring dropped frames (total {lagged}): requesting snapshots of every topic");
        var now = Time.GetUtcNow();
        return Task.WhenAll(Book.Topics.Select(topic => SendPinnedAsync(
            Book.IsLive(topic)
                ? VenueCommands.Snapshot(topic, Book.NextId())
                : VenueCommands.Subscribe(topic, Book.BeginSubscribe(topic, epoch, now, single: false)),
            epoch)));
    }
}

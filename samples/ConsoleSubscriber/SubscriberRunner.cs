using ConsoleSubscriber.Views;
using Spectre.Console;
using TradingAdapters;
using Transport;
using Transport.WebSockets;

namespace ConsoleSubscriber;

/// <summary>
/// One run: start the embedded venue if needed, connect through the full stack, let the adapter
/// subscribe and recover, show the view, then shut down with a close handshake and print the summary.
/// </summary>
internal sealed class SubscriberRunner(SubscriberSettings settings, TextWriter output)
{
    private readonly TimeProvider _time = TimeProvider.System;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        IFeedView view = settings.Plain ? new PlainView(output, _time) : new LiveView(AnsiConsole.Console, _time);
        view.Event($"starting: {settings}");
        await using var venue = settings.Url is null ? await EmbeddedVenue.StartAsync(settings, view.Event).ConfigureAwait(false) : null;
        var uri = settings.Url ?? venue!.Host.WebSocketUri;
        if (settings.PerConnection is { } perConnection)
        {
            // Pool mode: the topics spread over connections of one connector (one attempt gate), each
            // resubscribing its own share through the session initializer on every new socket.
            var connector = BuildConnector(uri, initializer: null);
            return await new PoolRunner(settings, perConnection, connector, view, output, _time).RunAsync(cancellationToken).ConfigureAwait(false);
        }

        if (settings.Legs is { } legs)
        {
            // Redundant legs: every topic on several sockets of one connector (one attempt gate), one merged feed.
            return await new LegsRunner(settings, legs, BuildConnector(uri, initializer: null), uri, venue, view, output, _time).RunAsync(cancellationToken).ConfigureAwait(false);
        }


        // The adapter is the session initializer: it replays its subscriptions on every new socket
        // before the transport publishes the up-edge or releases anything queued.
        var adapter = CreateAdapter(venue is not null);
        adapter.Notice += text => view.Event($"{adapter.Name}: {text}");
        var connection = await BuildConnector(uri, adapter).ConnectAsync(cancellationToken).ConfigureAwait(false);
        var monitor = new FeedMonitor(connection, () => adapter.Counters.Frames, _time);
        monitor.Changed += s => view.Event($"lifecycle: {s.Phase} epoch={s.Epoch} attempts={s.Attempts}"
            + (s.Phase == ConnectionPhase.Resumed && s.LastOutage is { } outage ? $" outage={outage.TotalSeconds.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)}s" : string.Empty)
            + (s.LastError is { } e && !s.IsUp ? $" last error: {ErrorText.Describe(e)}" : string.Empty));
        monitor.AttemptFailed += s => view.Event($"attempt {s.Attempts} failed: {ErrorText.Describe(s.LastError)}");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (settings.Duration is { } duration) stop.CancelAfter(duration);
        var watch = monitor.WatchAsync(stop.Token);
        var feed = adapter.RunAsync(connection, stop.Token);
        var show = view.RunAsync(monitor, adapter, stop.Token);

        // The run ends on the duration, Ctrl+C, or a connection that gave up (the watcher returns on a terminal phase).
        await Task.WhenAny(watch, stop.Token.WhenCancelled()).ConfigureAwait(false);
        var unrecoverable = connection.Lifecycle.Current.Phase == ConnectionPhase.Unrecoverable;
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(feed, show, watch).ConfigureAwait(false);
        }
        catch (TransportException) when (unrecoverable)
        {
            // The source ends with the terminal error: reported below, not as a crash.
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            view.Event($"adapter stopped: {e.GetType().Name}: {e.Message}");
        }

        // Close handshake within the transport's CloseTimeout; the adapter is stopped first so nothing races it.
        await connection.Control.ShutdownAsync(CancellationToken.None).ConfigureAwait(false);
        var final = connection.Lifecycle.Current;
        view.Event(unrecoverable
            ? $"connection unrecoverable after {final.Attempts} attempts: {ErrorText.Describe(final.LastError)}"
            : monitor.EverUp ? "shut down cleanly" : final.LastError is null
                    ? $"never connected: {final.Attempts} attempt(s) started, none finished (a handshake still in progress; the connect timeout bounds it)"
                    : $"never connected in {final.Attempts} attempts: {ErrorText.Describe(final.LastError)}");
        SummaryWriter.Write(output, monitor, adapter);
        return unrecoverable ? SubscriberApp.ExitUnrecoverable : monitor.EverUp ? SubscriberApp.ExitOk : SubscriberApp.ExitNeverConnected;
    }

    private ReconnectingConnector BuildConnector(Uri uri, ISessionInitializer? initializer)
    {
        var builder = new WebSocketTransportBuilder().Configure(o =>
        {
            o.WithName("subscriber").WithUri(uri)
             .WithBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5))
             // Ticks arrive every 100 ms per topic: 1.5 s of silence is suspicious, 3 s is a dead (stalled) socket.
             .WithIdleTimeouts(TimeSpan.FromSeconds(1.5), null)
             // A venue may ping a stalled feed forever (ping-alive, data-dead): the feed is caught by
             // opting in to data-silence teardown (ticks never stop on a healthy socket), whichever
             // leaf is chosen (the ClientWebSocket leaf cannot see pings at all).
             .WithReconnectOnDataSilence(TimeSpan.FromSeconds(3))
             .WithAttemptRateLimit(60, TimeSpan.FromMinutes(1));
            // Both adapters pace sends: a replay of many topics must not trip the venue's 1008.
            VenueRateLimit.Apply(o, EmbeddedVenue.InboundMessagesPerSecond);
        });
        if (initializer is not null) builder.WithSessionInitializer(initializer);
        if (settings.Token is { } token) builder.WithAuth(AuthSources.BearerToken(() => token));
        return builder.Build();
    }

    private FeedAdapter CreateAdapter(bool embedded) => settings.Venue switch
    {
        // Rotate well before the venue's lifetime: 3/4 of the embedded 20 s, or 23.5 h of Binance's 24 h.
        "binance" => new BinanceLikeAdapter(settings.Topics,
            rotateAfter: embedded ? (settings.VenueLifetime ?? EmbeddedVenue.Lifetime) * 0.75 : TimeSpan.FromHours(23.5), time: _time),
        _ => new IbkrLikeAdapter(settings.Topics,
            staleTopicAfter: TimeSpan.FromSeconds(1), keepAliveInterval: TimeSpan.FromSeconds(embedded ? 3 : 60), time: _time),
    };
}

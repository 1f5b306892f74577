using System.Collections.Concurrent;
using System.Globalization;
using ConsoleSubscriber.Views;
using Spectre.Console;
using Spectre.Console.Rendering;
using TradingAdapters.Protocol;
using Transport;
using Transport.WebSockets;
using Transport.WebSockets.Pool;

namespace ConsoleSubscriber;

/// <summary>
/// <c>--per-connection N</c>: the topics over a <see cref="ConnectionPool"/> of ceil(topics / N)
/// connections of one connector. Shows each connection's phase (live table, or a status line per
/// connection in plain mode) and prints a summary per connection and per topic.
/// </summary>
internal sealed class PoolRunner(SubscriberSettings settings, int perConnection, ReconnectingConnector connector, IFeedView view, TextWriter output, TimeProvider time)
{
    private static readonly TimeSpan StatusEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromMilliseconds(250);

    private readonly ConcurrentDictionary<string, TopicLine> _topics = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, long> _framesByConnection = new();
    private readonly Queue<string> _events = new(); // guarded by itself
    private long _frames;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var topics = settings.Topics.Distinct(StringComparer.Ordinal).ToList();
        var connections = (topics.Count + perConnection - 1) / perConnection;
        await using var pool = new ConnectionPool(
            new ConnectionPoolOptions { Name = "subscriber", PerConnectionCap = perConnection, MaxConnections = connections },
            new VenueSubscriptionProtocol(),
            connector);
        await pool.AddAsync(topics, CancellationToken.None).ConfigureAwait(false); // assigns at once; a stop request is handled below
        Event($"pool: {topics.Count} topics over {pool.Current.Connections.Count} connections, at most {perConnection} each");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (settings.Duration is { } duration) stop.CancelAfter(duration);
        var everUp = false;
        var watches = pool.Connections.Select(c => WatchAsync(c, () => everUp = true, stop.Token)).ToList();
        var read = ReadAsync(pool.Source, stop.Token);
        var show = settings.Plain ? ShowPlainAsync(pool, stop.Token) : ShowLiveAsync(pool, stop.Token);

        // Ends on the duration or Ctrl+C, or when every connection gave up.
        await Task.WhenAny(Task.WhenAll(watches), stop.Token.WhenCancelled()).ConfigureAwait(false);
        if (cancellationToken.IsCancellationRequested) Event("stop requested: closing every connection (1000), then the summary");
        var unrecoverable = pool.Connections.All(c => c.Lifecycle.Current.Phase == ConnectionPhase.Unrecoverable);
        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll([read, show, .. watches]).ConfigureAwait(false);

        var final = pool.Current;
        var dropped = pool.Source.TotalDropped;
        await pool.DisposeAsync().ConfigureAwait(false); // close handshakes within each connection's CloseTimeout
        Event(unrecoverable ? "pool unrecoverable: every connection gave up" : everUp ? "shut down cleanly" : "never connected");
        WriteSummary(final, dropped);
        return unrecoverable ? SubscriberApp.ExitUnrecoverable : everUp ? SubscriberApp.ExitOk : SubscriberApp.ExitNeverConnected;
    }

    private void Event(string text)
    {
        view.Event(text);
        lock (_events)
        {
            _events.Enqueue($"{time.GetLocalNow().ToString("HH:mm:ss", CultureInfo.InvariantCulture)} {text}");
            while (_events.Count > 8) _events.Dequeue();
        }
    }

    // One line per phase or epoch change of one connection.
    private async Task WatchAsync(ReconnectingConnection connection, Action up, CancellationToken cancellationToken)
    {
        long version = -1;
        var last = ((ConnectionPhase?)null, -1L);
        try
        {
            while (true)
            {
                var s = await connection.Lifecycle.WaitForChangeAsync(version, cancellationToken).ConfigureAwait(false);
                version = s.Version;
                if (s.IsUp) up();
                if ((s.Phase, s.Epoch) != last)
                {
                    Event($"{connection.Name}: {s.Phase} epoch={s.Epoch} attempts={s.Attempts}" + (s.LastError is { } e && !s.IsUp ? $" last error: {ErrorText.Describe(e)}" : string.Empty));
                    last = (s.Phase, s.Epoch);
                }

                if (s.IsTerminal) return;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ReadAsync(PoolSource source, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var pooled in source.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _frames);
                _framesByConnection.AddOrUpdate(pooled.Connection, 1, (_, n) => n + 1);
                if (VenueMessage.Parse(pooled.Frame) is { Type: "tick", Topic: { } topic, Seq: { } seq } tick)
                {
                    var line = _topics.GetOrAdd(topic, _ => new TopicLine());
                    lock (line)
                    {
                        (line.Connection, line.Epoch, line.Seq, line.Price) = (pooled.Connection, pooled.Frame.Epoch, seq, tick.Price);
                        line.Ticks++;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ShowPlainAsync(ConnectionPool pool, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(StatusEvery, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var now = pool.Current;
                Event($"status pool {now.Up}/{now.Connections.Count} up frames={Interlocked.Read(ref _frames)} " +
                    string.Join(' ', now.Connections.Select(c => $"{c.Name}={c.Phase}/e{c.Epoch}/{c.Subscriptions}t")) + " ticks " +
                    string.Join(' ', _topics.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => { lock (p.Value) return $"{p.Key}@c{p.Value.Connection}e{p.Value.Epoch}#{p.Value.Seq}"; })));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private Task ShowLiveAsync(ConnectionPool pool, CancellationToken cancellationToken) =>
        LiveTable.ShowAsync(() => Render(pool.Current), RefreshEvery, time, cancellationToken);

    private IRenderable Render(PoolSnapshot now)
    {
        var connections = new Table().Border(TableBorder.Rounded)
            .Title($"[bold]pool[/] {now.Up}/{now.Connections.Count} up, {now.Subscriptions} topics, {now.Unassigned.Count} unassigned")
            .AddColumns("connection", "phase", "epoch", "topics", "frames", "down since");
        foreach (var c in now.Connections)
        {
            var colour = c.Phase switch
            {
                ConnectionPhase.Connected or ConnectionPhase.Resumed => "green",
                ConnectionPhase.Stale => "yellow",
                _ => "red",
            };
            connections.AddRow(
                Markup.Escape(c.Name),
                $"[{colour}]{c.Phase}[/]",
                c.Epoch.ToString(CultureInfo.InvariantCulture),
                c.Subscriptions.ToString(CultureInfo.InvariantCulture),
                _framesByConnection.GetValueOrDefault(c.Index).ToString(CultureInfo.InvariantCulture),
                c.DownSince is { } d ? d.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture) : "-");
        }

        var topics = new Table().Border(TableBorder.Rounded).AddColumns("topic", "connection", "epoch", "price", "seq", "ticks");
        foreach (var (name, line) in _topics.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            lock (line)
            {
                topics.AddRow(Markup.Escape(name), line.Connection.ToString(CultureInfo.InvariantCulture), line.Epoch.ToString(CultureInfo.InvariantCulture),
                    line.Price?.ToString("0.00", CultureInfo.InvariantCulture) ?? "-", line.Seq.ToString(CultureInfo.InvariantCulture), line.Ticks.ToString(CultureInfo.InvariantCulture));
            }
        }

        string[] events;
        lock (_events) events = [.. _events];
        var log = new Rows(events.Length == 0 ? [new Text("-")] : events.Select(e => (IRenderable)new Text(e)));
        return new Rows(connections, topics, new Panel(log).Header("events").Expand(), new Markup("[grey]Ctrl+C to stop[/]"));
    }

    private void WriteSummary(PoolSnapshot final, long dropped)
    {
        output.WriteLine($"summary: pool connections {final.Connections.Count}, frames {Interlocked.Read(ref _frames)}, lost {final.Lost}, unassigned {final.Unassigned.Count}, merged drops {dropped}");
        foreach (var c in final.Connections)
        {
            output.WriteLine($"connection {c.Name}: topics {c.Subscriptions}, epoch {c.Epoch}, frames {_framesByConnection.GetValueOrDefault(c.Index)}");
        }

        foreach (var (name, line) in _topics.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            lock (line)
            {
                output.WriteLine($"topic {name}: connection {line.Connection}, epoch {line.Epoch}, last seq {line.Seq}, last price {line.Price?.ToString(CultureInfo.InvariantCulture) ?? "-"}, ticks {line.Ticks}");
            }
        }
    }

    private sealed class TopicLine
    {
        public int Connection;
        public long Epoch;
        public long Seq;
        public decimal? Price;
        public long Ticks;
    }
}

using System.Collections.Concurrent;
using System.Globalization;
using ConsoleSubscriber.Views;
using Spectre.Console;
using Spectre.Console.Rendering;
using TradingAdapters;
using TradingAdapters.Protocol;
using Transport;
using Transport.WebSockets;
using Transport.WebSockets.Legs;

namespace ConsoleSubscriber;

/// <summary>
/// <c>--legs N</c>: the topics over N redundant legs of one connector (a <see cref="RedundantConnection"/>), each
/// subscribing every topic on its own socket; the merged source delivers each tick once (the Binance-like
/// adapter's key: topic + seq). Shows each leg (phase, epoch, wins, duplicates, how far behind) and the aggregate,
/// and checks every topic's sequence on the merged source (gaps, duplicates). Against the embedded venue (venue-wide
/// sequences) one leg is cut every few seconds and the legs are rolled before the venue's lifetime: the feed
/// should show no gap.
/// </summary>
internal sealed class LegsRunner(SubscriberSettings settings, int legCount, ReconnectingConnector connector, Uri uri, EmbeddedVenue? venue, IFeedView view, TextWriter output, TimeProvider time)
{
    private static readonly TimeSpan StatusEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan CutEvery = TimeSpan.FromSeconds(6);

    private readonly ConcurrentDictionary<string, TopicLine> _topics = new(StringComparer.Ordinal);
    private readonly Queue<string> _events = new(); // guarded by itself
    private long _frames;
    private long _cuts;
    private long _rolls;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var topics = settings.Topics.Distinct(StringComparer.Ordinal).ToList();
        var subscribe = new SubscribeOnEachSocket(topics, TimeSpan.FromSeconds(10));
        var names = Enumerable.Range(0, legCount).Select(i => ((char)('a' + i)).ToString()).ToList();
        await using var legs = new RedundantConnection(
            new RedundantConnectionOptions
            {
                Name = "subscriber",
                KeySelector = BinanceLikeAdapter.KeySelector,
                // Against the embedded venue each leg tags its handshake, so the venue can cut one leg alone.
                Legs = [.. names.Select(n => new LegOptions { Name = n, Uri = venue is null ? null : new Uri($"{uri}?leg={n}"), Initializer = subscribe })],
            },
            connector);
        Event($"legs: {topics.Count} topics on each of {legCount} legs, merged by (topic, seq)");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (settings.Duration is { } duration) stop.CancelAfter(duration);
        var everUp = false;
        List<Task> work =
        [
            WatchAsync(legs.Lifecycle, "aggregate", () => everUp = true, stop.Token),
            .. legs.Legs.Select(l => WatchAsync(l.Lifecycle, $"leg {l.Name}", static () => { }, stop.Token)),
            ReadAsync(legs.Source, stop.Token),
            settings.Plain ? ShowPlainAsync(legs, stop.Token) : ShowLiveAsync(legs, stop.Token),
            RollAsync(legs, stop.Token),
        ];
        if (venue is not null)
        {
            work.Add(CutAsync(legs, venue, names, stop.Token));
        }

        // Ends on the duration or Ctrl+C, or when the aggregate ended (every leg gave up).
        await Task.WhenAny(legs.Lifecycle.Completion, stop.Token.WhenCancelled()).ConfigureAwait(false);
        var unrecoverable = legs.Lifecycle.Current.Phase == ConnectionPhase.Unrecoverable;
        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(work).ConfigureAwait(false);

        var final = legs.Current;
        await legs.DisposeAsync().ConfigureAwait(false); // close handshakes within each leg's CloseTimeout
        Event(unrecoverable ? "legs unrecoverable: every leg gave up" : everUp ? "shut down cleanly" : "never connected");
        WriteSummary(final);
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

    // One line per phase or epoch change of the aggregate or of one leg.
    private async Task WatchAsync(ILifecycleChannel lifecycle, string what, Action up, CancellationToken cancellationToken)
    {
        long version = -1;
        var last = ((ConnectionPhase?)null, -1L);
        try
        {
            while (true)
            {
                var s = await lifecycle.WaitForChangeAsync(version, cancellationToken).ConfigureAwait(false);
                version = s.Version;
                if (s.IsUp) up();
                if ((s.Phase, s.Epoch) != last)
                {
                    Event($"{what}: {s.Phase} epoch={s.Epoch}" + (s.LastError is { } e && !s.IsUp ? $" last error: {ErrorText.Describe(e)}" : string.Empty));
                    last = (s.Phase, s.Epoch);
                }

                if (s.IsTerminal) return;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    // The merged source: every topic's seq must grow by exactly 1 (venue-wide sequences).
    private async Task ReadAsync(IFrameSource source, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var frame in source.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _frames);
                if (VenueMessage.Parse(frame) is { Type: "tick", Topic: { } topic, Seq: { } seq } tick)
                {
                    var line = _topics.GetOrAdd(topic, _ => new TopicLine());
                    lock (line)
                    {
                        if (line.Ticks > 0 && seq > line.Seq + 1) line.Gaps += seq - line.Seq - 1;
                        if (line.Ticks > 0 && seq <= line.Seq) line.Duplicates++;
                        else (line.Seq, line.Price) = (seq, tick.Price);
                        line.Ticks++;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    // Make-before-break before the venue's lifetime: the aggregate's reconnect rolls the legs one at a time.
    private async Task RollAsync(RedundantConnection legs, CancellationToken cancellationToken)
    {
        var every = venue is null ? TimeSpan.FromHours(23.5) : EmbeddedVenue.Lifetime * 0.75;
        using var timer = new PeriodicTimer(every, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _rolls);
                Event("rolling the legs before the venue's lifetime, one at a time");
                legs.Control.ReconnectTrigger.ForceReconnect("rotation before the venue's connection lifetime");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    // The embedded venue cuts one leg (alternately) every few seconds, only while another leg is up.
    private async Task CutAsync(RedundantConnection legs, EmbeddedVenue embedded, List<string> names, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(CutEvery, time);
        var next = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var name = names[next++ % names.Count];
                if (legs.Legs.Any(l => l.Name != name && l.Lifecycle.Current.IsUp) && embedded.Host.DropConnectionsWithQuery("leg=" + name) > 0)
                {
                    Interlocked.Increment(ref _cuts);
                    Event($"simulator: cut leg {name}");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ShowPlainAsync(RedundantConnection legs, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(StatusEvery, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var now = legs.Current;
                Event($"status {now.Aggregate.Phase} epoch={now.Aggregate.Epoch} legs {now.Up}/{now.Legs.Count} up{(now.IsDegraded ? " degraded" : string.Empty)} frames={Interlocked.Read(ref _frames)} " +
                    string.Join(' ', now.Legs.Select(l => $"{l.Name}={l.Lifecycle.Phase}/e{l.Lifecycle.Epoch}/w{l.Wins}/d{l.Duplicates}")) + " ticks " +
                    string.Join(' ', _topics.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => { lock (p.Value) return $"{p.Key}#{p.Value.Seq}/gaps{p.Value.Gaps}/dups{p.Value.Duplicates}"; })));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ShowLiveAsync(RedundantConnection legs, CancellationToken cancellationToken)
    {
        await AnsiConsole.Console.Live(Render(legs.Current)).AutoClear(false).StartAsync(async ctx =>
        {
            using var timer = new PeriodicTimer(RefreshEvery, time);
            try
            {
                while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                {
                    ctx.UpdateTarget(Render(legs.Current));
                }
            }
            catch (OperationCanceledException)
            {
            }
        }).ConfigureAwait(false);
    }

    private IRenderable Render(RedundantSnapshot now)
    {
        var aggregate = now.Aggregate;
        var legsTable = new Table().Border(TableBorder.Rounded)
            .Title($"[bold]legs[/] {now.Up}/{now.Legs.Count} up{(now.IsDegraded ? " [yellow](degraded)[/]" : string.Empty)}, aggregate [{Colour(aggregate.Phase)}]{aggregate.Phase}[/] epoch {aggregate.Epoch}, cuts {Interlocked.Read(ref _cuts)}, rolls {Interlocked.Read(ref _rolls)}")
            .AddColumns("leg", "phase", "epoch", "primary", "wins", "duplicates", "behind", "down since");
        foreach (var leg in now.Legs)
        {
            legsTable.AddRow(
                Markup.Escape(leg.Name),
                $"[{Colour(leg.Lifecycle.Phase)}]{leg.Lifecycle.Phase}[/]",
                leg.Lifecycle.Epoch.ToString(CultureInfo.InvariantCulture),
                leg.IsPrimary ? "*" : string.Empty,
                leg.Wins.ToString(CultureInfo.InvariantCulture),
                leg.Duplicates.ToString(CultureInfo.InvariantCulture),
                $"{leg.Behind.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)} ms",
                leg.Lifecycle.DownSince is { } d && !leg.IsUp ? d.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture) : "-");
        }

        var topics = new Table().Border(TableBorder.Rounded).Title("[bold]merged[/] source").AddColumns("topic", "price", "seq", "ticks", "gaps", "duplicates");
        foreach (var (name, line) in _topics.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            lock (line)
            {
                topics.AddRow(Markup.Escape(name), line.Price?.ToString("0.00", CultureInfo.InvariantCulture) ?? "-", line.Seq.ToString(CultureInfo.InvariantCulture),
                    line.Ticks.ToString(CultureInfo.InvariantCulture), line.Gaps.ToString(CultureInfo.InvariantCulture), line.Duplicates.ToString(CultureInfo.InvariantCulture));
            }
        }

        string[] events;
        lock (_events) events = [.. _events];
        var log = new Rows(events.Length == 0 ? [new Text("-")] : events.Select(e => (IRenderable)new Text(e)));
        return new Rows(legsTable, topics, new Panel(log).Header("events").Expand(), new Markup("[grey]Ctrl+C to stop[/]"));
    }

    private static string Colour(ConnectionPhase phase) => phase switch
    {
        ConnectionPhase.Connected or ConnectionPhase.Resumed => "green",
        ConnectionPhase.Stale => "yellow",
        _ => "red",
    };

    private void WriteSummary(RedundantSnapshot final)
    {
        long gaps = 0, duplicates = 0;
        foreach (var line in _topics.Values)
        {
            lock (line)
            {
                gaps += line.Gaps;
                duplicates += line.Duplicates;
            }
        }

        output.WriteLine($"summary: legs {final.Legs.Count}, aggregate epoch {final.Aggregate.Epoch}, frames {Interlocked.Read(ref _frames)}, gaps {gaps}, duplicates {duplicates}, cuts {Interlocked.Read(ref _cuts)}, rolls {Interlocked.Read(ref _rolls)}");
        foreach (var leg in final.Legs)
        {
            output.WriteLine($"leg {leg.Name}: epoch {leg.Lifecycle.Epoch}, wins {leg.Wins}, duplicates {leg.Duplicates}, behind {leg.Behind.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)} ms");
        }

        foreach (var (name, line) in _topics.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            lock (line)
            {
                output.WriteLine($"topic {name}: last seq {line.Seq}, last price {line.Price?.ToString(CultureInfo.InvariantCulture) ?? "-"}, ticks {line.Ticks}, gaps {line.Gaps}, duplicates {line.Duplicates}");
            }
        }
    }

    private sealed class TopicLine
    {
        public long Seq;
        public decimal? Price;
        public long Ticks;
        public long Gaps;
        public long Duplicates;
    }
}

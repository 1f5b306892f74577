using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;
using TradingAdapters;

namespace ConsoleSubscriber.Views;

/// <summary>A Spectre.Console live table redrawn about four times a second, with the latest events under it.</summary>
internal sealed class LiveView(IAnsiConsole console, TimeProvider time) : IFeedView
{
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromMilliseconds(250);
    private const int EventLines = 8;
    private readonly Queue<string> _events = new(); // guarded by itself: adapters report from any thread

    public void Event(string text)
    {
        lock (_events)
        {
            _events.Enqueue($"{time.GetLocalNow().ToString("HH:mm:ss", CultureInfo.InvariantCulture)} {text}");
            while (_events.Count > EventLines) _events.Dequeue();
        }
    }

    public async Task RunAsync(FeedMonitor monitor, FeedAdapter adapter, CancellationToken cancellationToken)
    {
        await console.Live(Render(monitor, adapter, 0)).AutoClear(false).StartAsync(async ctx =>
        {
            using var timer = new PeriodicTimer(RefreshEvery, time);
            try
            {
                while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                {
                    ctx.UpdateTarget(Render(monitor, adapter, monitor.SampleFramesPerSecond()));
                }
            }
            catch (OperationCanceledException)
            {
            }
        }).ConfigureAwait(false);
    }

    private IRenderable Render(FeedMonitor monitor, FeedAdapter adapter, double framesPerSecond)
    {
        var s = monitor.Current;
        var c = adapter.Counters;
        var phaseColour = s.Phase switch
        {
            Transport.ConnectionPhase.Connected or Transport.ConnectionPhase.Resumed => "green",
            Transport.ConnectionPhase.Stale => "yellow",
            _ => "red",
        };
        var header = new Grid().AddColumns(4)
            .AddRow($"phase [{phaseColour}]{s.Phase}[/]", $"epoch {s.Epoch}", $"frames/s {framesPerSecond:0}", $"lagged {s.TotalLagged}")
            .AddRow($"reconnects {s.Epoch}", $"attempts {s.Attempts}", $"time down {monitor.TimeDown.TotalSeconds:0.0}s", $"frames {c.Frames}")
            .AddRow($"gaps {c.Gaps}", $"resubscribes {c.Resubscribes}", $"reconciles {c.Reconciles}", $"rotations {c.Rotations}");
        if (!s.IsUp && s.LastError is { } error)
        {
            header.AddRow($"[red]last error[/] {Markup.Escape(ErrorText.Describe(error))}", string.Empty, string.Empty, string.Empty);
        }

        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]{adapter.Name}[/] feed")
            .AddColumns("topic", "state", "price", "seq", "ticks", "gaps", "resubs");
        foreach (var t in adapter.Book.Snapshot())
        {
            table.AddRow(
                Markup.Escape(t.Topic),
                t.Live ? $"[green]live[/] e{t.Epoch}" : "[yellow]subscribing[/]",
                t.LastPrice?.ToString("0.00", CultureInfo.InvariantCulture) ?? "-",
                t.LastSeq.ToString(CultureInfo.InvariantCulture),
                t.Ticks.ToString(CultureInfo.InvariantCulture),
                t.Gaps.ToString(CultureInfo.InvariantCulture),
                t.Resubscribes.ToString(CultureInfo.InvariantCulture));
        }

        string[] events;
        lock (_events) events = [.. _events];
        var log = new Rows(events.Length == 0 ? [new Text("-")] : events.Select(e => (IRenderable)new Text(e)));
        return new Rows(header, table, new Panel(log).Header("events").Expand(), new Markup("[grey]Ctrl+C to stop[/]"));
    }
}

using System.Globalization;
using TradingAdapters;

namespace ConsoleSubscriber;

/// <summary>The end-of-run summary: what a reader (or a test) checks to see the feed survived.</summary>
internal static class SummaryWriter
{
    public static void Write(TextWriter output, FeedMonitor monitor, FeedAdapter adapter)
    {
        var s = monitor.Current;
        var c = adapter.Counters;
        output.WriteLine("summary:");
        output.WriteLine($"  final phase: {s.Phase}");
        output.WriteLine($"  frames: {c.Frames}");
        output.WriteLine($"  reconnects: {s.Epoch}");
        output.WriteLine($"  attempts: {s.Attempts}");
        if (s.LastError is { } error) output.WriteLine($"  last error: {ErrorText.Describe(error)}");
        output.WriteLine($"  time down: {monitor.TimeDown.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s");
        var outages = monitor.Outages;
        if (outages.Count > 0)
        {
            output.WriteLine($"  outages: {outages.Count}, longest {outages.Max().TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture)}s, " +
                $"mean {(outages.Sum(o => o.TotalSeconds) / outages.Count).ToString("0.000", CultureInfo.InvariantCulture)}s");
        }
        output.WriteLine($"  lagged: {s.TotalLagged}");
        output.WriteLine($"  gaps: {c.Gaps}  resubscribes: {c.Resubscribes}  replays: {c.Replays}  reconciles: {c.Reconciles}  rotations: {c.Rotations}  pings: {c.PingsSent}  pongs: {c.Pongs}");
        // One entry per epoch that delivered ticks: proof that data flowed again after each reconnect.
        var byEpoch = adapter.Book.TicksByEpoch.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}");
        output.WriteLine($"  ticks by epoch: {string.Join(' ', byEpoch)}");
        foreach (var t in adapter.Book.Snapshot())
        {
            output.WriteLine($"  topic {t.Topic}: last seq {t.LastSeq}, last price {t.LastPrice?.ToString(CultureInfo.InvariantCulture) ?? "-"}, ticks {t.Ticks}, gaps {t.Gaps}, resubscribes {t.Resubscribes}");
        }
    }
}

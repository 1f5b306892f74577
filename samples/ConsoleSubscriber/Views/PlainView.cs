using System.Globalization;
using TradingAdapters;

namespace ConsoleSubscriber.Views;

/// <summary>
/// One line per event plus a status line every two seconds: for logs, CI, redirected output and
/// tests, where a redrawn table would be noise.
/// </summary>
internal sealed class PlainView(TextWriter output, TimeProvider time) : IFeedView
{
    private static readonly TimeSpan StatusEvery = TimeSpan.FromSeconds(2);

    public void Event(string text) =>
        output.WriteLine($"[{time.GetLocalNow().ToString("HH:mm:ss.f", CultureInfo.InvariantCulture)}] {text}");

    public async Task RunAsync(FeedMonitor monitor, FeedAdapter adapter, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(StatusEvery, time);
        monitor.SampleFramesPerSecond(); // a baseline, so the first status line has a rate
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var s = monitor.Current;
                var topics = string.Join(' ', adapter.Book.Snapshot().Select(t => $"{t.Topic}#{t.LastSeq}@{t.LastPrice?.ToString(CultureInfo.InvariantCulture) ?? "-"}"));
                Event($"status {s.Phase} epoch={s.Epoch} frames/s={monitor.SampleFramesPerSecond():0} lagged={s.TotalLagged} gaps={adapter.Counters.Gaps} resubscribes={adapter.Counters.Resubscribes} {topics}" +
                    (s.IsUp ? string.Empty : $" attempts={s.Attempts} last error: {ErrorText.Describe(s.LastError)}"));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

using System.Globalization;
using Transport;
using Transport.WebSockets.FanOut;

namespace TradingAdapters.Recording;

/// <summary>
/// Writes every frame of its own fan-out subscriber to a text sink, one line per frame:
/// <c>epoch TAB receivedAt(ticks of the connection's clock) TAB text</c> (binary frames as base64 with a
/// <c>b64:</c> prefix). It reads beside the live consumer, never in its way: a slow or stalled sink
/// fills only the recorder's own bounded queue, which drops its oldest frames and counts them.
/// </summary>
/// <remarks>
/// Counts: <see cref="Recorded"/> lines written; <see cref="Stats"/> the subscriber's offered,
/// delivered, dropped and buffered frames (Offered == Delivered + Dropped + Buffered; Delivered is
/// Recorded plus at most the one frame being written).
/// </remarks>
public sealed class FeedRecorder
{
    private readonly FanOutSubscriber _frames;
    private readonly TextWriter _sink;
    private readonly ChangeSignal? _changed;
    private long _recorded;

    /// <summary>Creates a recorder over <paramref name="frames"/> writing to <paramref name="sink"/>.</summary>
    /// <param name="frames">The recorder's own fan-out subscriber.</param>
    /// <param name="sink">Where the lines go.</param>
    /// <param name="changed">Pulsed after every line written (for example the adapter's <see cref="AdapterCounters.Changed"/>), so waiters need not poll <see cref="Recorded"/>.</param>
    public FeedRecorder(FanOutSubscriber frames, TextWriter sink, ChangeSignal? changed = null)
    {
        _frames = frames ?? throw new ArgumentNullException(nameof(frames));
        _sink = sink ?? throw new ArgumentNullException(nameof(sink));
        _changed = changed;
    }

    /// <summary>Lines written so far.</summary>
    public long Recorded => Interlocked.Read(ref _recorded);

    /// <summary>Frames the recorder's queue dropped (oldest first) because the sink was behind.</summary>
    public long Dropped => _frames.Stats.Dropped;

    /// <summary>The recorder's subscriber counts (levels and cumulative values).</summary>
    public FanOutSubscriberStats Stats => _frames.Stats;

    /// <summary>Writes frames until <paramref name="cancellationToken"/> fires or the feed ends; flushes after each drained burst.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await _frames.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (_frames.TryRead(out var frame))
                {
                    await _sink.WriteLineAsync(Line(frame).AsMemory(), cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref _recorded);
                    _changed?.Pulse();
                }

                await _sink.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped.
        }
        catch (TransportException)
        {
            // The connection became unrecoverable: the feed has ended, what was delivered is written.
        }
    }

    /// <summary>One recorded line for <paramref name="frame"/>.</summary>
    public static string Line(Frame frame) =>
        string.Create(CultureInfo.InvariantCulture, $"{frame.Epoch}\t{frame.ReceivedAt}\t{(frame.Kind == FrameKind.Text ? frame.GetText() : "b64:" + Convert.ToBase64String(frame.Payload.Span))}");
}

using System.Threading.Channels;
using VenueSimulator.Protocol;

namespace VenueSimulator.Sessions;

/// <summary>One tick of the venue's tape for one topic.</summary>
internal readonly record struct TapeTick(long Seq, double Price, long UnixMs);

/// <summary>
/// The venue-wide ticks (<see cref="SimulatorOptions.VenueSequences"/>): one sequence and one price walk per
/// topic, shared by every connection, as a real venue numbers its own messages (Binance's update ids,
/// Coinbase's sequence). Every subscriber of a topic receives the same (seq, price) for each tick, from the
/// first tick after it subscribed; two connections subscribed to one topic carry identical ticks, which is
/// what redundant legs and make-before-break rotation deduplicate.
///
/// Invariants:
/// Tape.T1: per topic, the tape's seq grows by exactly 1 per tick; a subscriber receives every tick after its
///          registration, in order, each once (SubscriptionTests.Venue_sequences_are_shared_by_every_connection_and_continue_across_subscriptions).
/// Tape.T2: a slow or stalled connection never delays the tape or the other subscribers (each has its own unbounded queue).
/// </summary>
internal sealed class VenueTape : IAsyncDisposable
{
    private readonly Dictionary<string, TopicTape> _topics = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

    public VenueTape(SimulatorOptions options)
    {
        var seed = options.Seed is { } s ? new Random(unchecked(s * 17 + 1)) : new Random();
        foreach (var topic in options.Topics.Distinct(StringComparer.Ordinal))
        {
            _topics[topic] = new TopicTape(new PriceWalk(options.InitialPrice, new Random(seed.Next())));
        }

        foreach (var (topic, tape) in _topics)
        {
            _loops.Add(RunAsync(tape, options.TickIntervalFor(topic), _stop.Token));
        }
    }

    /// <summary>
    /// Registers a subscriber of <paramref name="topic"/>: it receives every tick after this call.
    /// <paramref name="lastSeq"/> and <paramref name="lastPrice"/> describe the tape just before (a snapshot's seq).
    /// </summary>
    public ChannelReader<TapeTick> Subscribe(string topic, out long lastSeq, out double lastPrice, out Action unsubscribe)
    {
        var tape = _topics[topic];
        var channel = Channel.CreateUnbounded<TapeTick>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        lock (tape)
        {
            tape.Subscribers.Add(channel);
            lastSeq = tape.Seq;
            lastPrice = tape.Walk.Current;
        }

        unsubscribe = () =>
        {
            lock (tape)
            {
                tape.Subscribers.Remove(channel);
            }

            channel.Writer.TryComplete();
        };
        return channel.Reader;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_loops).ConfigureAwait(false);
        _stop.Dispose();
    }

    private static async Task RunAsync(TopicTape tape, TimeSpan interval, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                lock (tape)
                {
                    // Tape.T1: numbered and priced once, under the lock every subscriber registers under.
                    var tick = new TapeTick(++tape.Seq, tape.Walk.Next(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                    foreach (var subscriber in tape.Subscribers)
                    {
                        subscriber.Writer.TryWrite(tick);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The simulator stops.
        }
    }

    private sealed class TopicTape(PriceWalk walk)
    {
        // Guarded by the TopicTape instance's lock.
        public long Seq;

        public PriceWalk Walk { get; } = walk;

        public List<Channel<TapeTick>> Subscribers { get; } = [];
    }
}

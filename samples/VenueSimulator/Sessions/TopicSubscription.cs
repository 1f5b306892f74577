using VenueSimulator.Protocol;

namespace VenueSimulator.Sessions;

/// <summary>
/// One topic subscribed on one connection: its own sequence (1, 2, 3, … from this
/// subscription on), its own price walk and its own tick loop; or, with venue sequences, the
/// venue tape's ticks from the moment it subscribed. Expiry cancels the loop but keeps the
/// entry, so the client still believes it is subscribed (IBKR-style silent expiry).
/// </summary>
internal sealed class TopicSubscription
{
    private readonly CancellationTokenSource _cts;
    private readonly PriceWalk _walk;
    private long _seq; // touched only inside SessionSender's lock (tick and snapshot builders)

    public TopicSubscription(string topic, PriceWalk walk, CancellationToken sessionToken)
    {
        Topic = topic;
        _walk = walk;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(sessionToken);
    }

    /// <summary>
    /// A subscription to the venue's tape (<see cref="SimulatorOptions.VenueSequences"/>): registered now, so
    /// it carries every tape tick after this moment, numbered by the venue, not from 1.
    /// </summary>
    public TopicSubscription(string topic, VenueTape tape, CancellationToken sessionToken)
    {
        Topic = topic;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(sessionToken);
        _tape = tape.Subscribe(topic, out _seq, out _tapePrice, out _unsubscribe);
        _walk = null!;
    }

    private readonly System.Threading.Channels.ChannelReader<TapeTick>? _tape;
    private readonly Action? _unsubscribe;
    private double _tapePrice; // touched only inside SessionSender's lock, like _seq

    public string Topic { get; }

    /// <summary>Cancelled on unsubscribe, re-subscribe, expiry or session end.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>Seq of the last tick built; a snapshot carries it (0 before the first tick).</summary>
    public long LastSeq => _seq;

    public double CurrentPrice => _tape is null ? _walk.Current : _tapePrice;

    public Task TickLoop { get; private set; } = Task.CompletedTask;

    public void Start(TimeSpan interval, SessionSender sender) => TickLoop = _tape is null ? RunAsync(interval, sender) : RunTapeAsync(_tape, sender);

    /// <summary>Stops the ticks for good. Safe to call more than once and concurrently.</summary>
    public void Stop()
    {
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already stopped and disposed by the session's teardown.
        }

        _unsubscribe?.Invoke();
    }

    private async Task RunTapeAsync(System.Threading.Channels.ChannelReader<TapeTick> tape, SessionSender sender)
    {
        var token = _cts.Token;
        try
        {
            await foreach (var tick in tape.ReadAllAsync(token).ConfigureAwait(false))
            {
                await sender.SendAsync(
                    () =>
                    {
                        _seq = tick.Seq;
                        _tapePrice = tick.Price;
                        return ServerMessages.Tick(Topic, tick.Seq, tick.Price, tick.UnixMs);
                    },
                    Topic,
                    token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Unsubscribed, expired or session over.
        }
        catch (Exception)
        {
            // The socket died under a send; the receive loop observes and classifies that.
        }
        finally
        {
            _unsubscribe?.Invoke();
        }
    }

    private async Task RunAsync(TimeSpan interval, SessionSender sender)
    {
        var token = _cts.Token;
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                await sender.SendAsync(
                    () => ServerMessages.Tick(Topic, ++_seq, _walk.Next(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
                    Topic,
                    token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Unsubscribed, expired or session over.
        }
        catch (Exception)
        {
            // The socket died under a send; the receive loop observes and classifies that.
        }
    }
}

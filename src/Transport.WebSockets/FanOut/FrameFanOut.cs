using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Transport.WebSockets.FanOut;

// Invariants (each proven by a test carrying [Trait("Invariant", "<id>")] in tests/Transport.Tests/FanOut/):
//
// FanOut.F1: Conservation per subscriber: Offered == Delivered + Dropped + Buffered at every quiescent
//            point, under either drop policy, with attach and detach at any time.
// FanOut.F2: Bounds per subscriber: Buffered <= CapacityFrames; BufferedBytes <= CapacityBytes unless a
//            single frame larger than the budget is buffered alone.
// FanOut.F3: The pump never waits on a subscriber: offering is synchronous and never blocks, so a
//            stalled subscriber drops (counted) while every other subscriber receives every frame.
// FanOut.F4: Order and sharing: a subscriber sees the frames that matched its filter in source order,
//            minus its own drops, as the same Frame values (payload memory, epoch, receive time): not copied.
//            A leased frame is shared with a hold per subscriber (Lease.L9), never copied below 32 holders.
// FanOut.F5: Attach and detach at any time: a subscriber is offered exactly the frames the pump reads
//            after Subscribe returned and before its DisposeAsync returned; after detaching, its buffered
//            frames stay readable and its enumeration then ends.
// FanOut.F6: The source's end reaches every subscriber after its buffered frames: a normal end ends the
//            enumeration, a terminal error is thrown; a subscriber attached after the end sees it at once.
// FanOut.F7: A filter that throws detaches its own subscriber only (its enumeration throws
//            FanOutFilterException after its buffered frames); the pump and the others carry on; the
//            fault is logged by exception type, never by message.
// FanOut.F8: DropNewest: a full queue rejects the arriving frame (counted in Dropped) and keeps what it
//            buffered; an empty queue admits any frame.
// FanOut.F9: Lease ownership (ADR 0013): the pump owns each frame it reads until every subscriber has been
//            offered it; each subscriber that takes a leased frame gets a hold of its own (the last one the
//            pump's), so one subscriber's eviction, detach or release never frees it under another; a frame
//            no subscriber takes (none attached, every filter declined, every DropNewest queue full, a
//            filter threw) is released by the pump. Every lease is released exactly once per hold.
//            FanOutLeaseTests (one test per defect of issue 26 item 2)
//            LeaseOwnershipPropertyTests.Every_lease_is_released_exactly_once_and_never_read_after_release

/// <summary>
/// Fans one <see cref="IFrameSource"/> (typically a connection's <see cref="ReconnectingConnection.Source"/>)
/// out to any number of subscribers, each with its own bounded drop-oldest (or drop-newest) queue,
/// filter and counters.
/// </summary>
/// <remarks>
/// <para>
/// One pump reads the source and offers each frame to every attached subscriber. Offering never
/// waits: a slow subscriber's queue fills and drops for that subscriber only, so it can slow
/// neither the socket nor the other subscribers. The connection's own receive ring still absorbs
/// pressure only if the pump itself falls behind (its filters are too slow).
/// </para>
/// <para>
/// Lease mode (docs/adr/0013): the fan-out becomes the owner of every frame it reads. Each subscriber
/// that takes a leased frame gets a hold of its own on the one pooled buffer (no copy up to 32 holders
/// per message), to release once after its last read; what no subscriber takes is released here.
/// </para>
/// <para>
/// Create it, subscribe the consumers that must not miss the first frames, then <see cref="Start"/>.
/// Frames the pump reads while no subscriber is attached are counted in <see cref="Unrouted"/>.
/// The pump runs on the given <see cref="ISpawner"/> (the thread pool by default; a manually pumped
/// spawner in tests) and awaits without <c>ConfigureAwait(false)</c>, so a pumped test steps it.
/// </para>
/// </remarks>
public sealed class FrameFanOut : IAsyncDisposable
{
    private readonly IFrameSource _source;
    private readonly ISpawner _spawner;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();

    // Copy-on-write under _lock; the pump reads the current array without locking.
    private FanOutSubscriber[] _subscribers = [];

    // Guarded by _lock: set once when the pump ends; later subscribers start completed with it.
    private bool _ended;
    private Exception? _endError;
    private int _nextId;
    private Task? _pump;

    // Written by the pump only.
    private long _framesRead;
    private long _unrouted;

    /// <summary>Creates a fan-out over <paramref name="source"/>; call <see cref="Start"/> to begin pumping.</summary>
    /// <param name="source">The source to read. The fan-out becomes its single consumer.</param>
    /// <param name="spawner">Where the pump runs; the thread pool when null.</param>
    /// <param name="logger">Where filter faults are logged; none when null.</param>
    public FrameFanOut(IFrameSource source, ISpawner? spawner = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _spawner = spawner ?? ThreadPoolSpawner.Instance;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Cumulative frames the pump has read from the source.</summary>
    public long FramesRead => Interlocked.Read(ref _framesRead);

    /// <summary>
    /// Cumulative frames read while no subscriber was attached (counted here; a leased one is released).
    /// </summary>
    public long Unrouted => Interlocked.Read(ref _unrouted);

    /// <summary>The attached subscribers now.</summary>
    public IReadOnlyList<FanOutSubscriber> Subscribers => Volatile.Read(ref _subscribers);

    /// <summary>Completes when the pump has ended (the source ended, or the fan-out was disposed); never faults.</summary>
    public Task Completion
    {
        get { lock (_lock) { return _pump ?? Task.CompletedTask; } }
    }

    /// <summary>Attaches a subscriber with default bounds, drop-oldest, and no filter.</summary>
    /// <returns>The subscriber; dispose it to detach.</returns>
    public FanOutSubscriber Subscribe() => Subscribe(new FanOutSubscriberOptions());

    /// <summary>Attaches a subscriber. It is offered every frame the pump reads from now on that its filter accepts.</summary>
    /// <param name="options">Bounds, drop policy, filter and name.</param>
    /// <returns>The subscriber; dispose it to detach.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid (the message names the field).</exception>
    public FanOutSubscriber Subscribe(FanOutSubscriberOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        lock (_lock)
        {
            int id = ++_nextId;
            var subscriber = new FanOutSubscriber(this, options.Name ?? $"subscriber-{id}", options);
            if (_ended)
            {
                // FanOut.F6: nothing more will come; say so at once.
                subscriber.MarkDetached(_endError);
                return subscriber;
            }

            var current = _subscribers;
            var next = new FanOutSubscriber[current.Length + 1];
            current.CopyTo(next, 0);
            next[^1] = subscriber;
            Volatile.Write(ref _subscribers, next);
            return subscriber;
        }
    }

    /// <summary>Starts the pump. Call once, after subscribing the consumers that must see the first frames.</summary>
    /// <returns>This fan-out.</returns>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    /// <exception cref="ObjectDisposedException">Already disposed.</exception>
    public FrameFanOut Start()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
            if (_pump is not null)
            {
                throw new InvalidOperationException("The fan-out is already started.");
            }

            CancellationToken token = _stop.Token;
            _pump = _spawner.Spawn(() => PumpAsync(token));
        }

        return this;
    }

    /// <summary>
    /// Stops the pump and ends every subscriber normally (after its buffered frames). The source
    /// itself is not disposed; frames it still holds stay there.
    /// </summary>
    /// <returns>Completes when the pump has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        Task? pump;
        lock (_lock)
        {
            if (_stop.IsCancellationRequested)
            {
                pump = _pump;
            }
            else
            {
                _stop.Cancel();
                pump = _pump;
            }
        }

        if (pump is not null)
        {
            await pump.ConfigureAwait(false);
        }

        End(error: null);
    }

    /// <inheritdoc />
    public override string ToString() => $"fan-out: {Subscribers.Count} subscribers, read={FramesRead} unrouted={Unrouted}";

    internal void Detach(FanOutSubscriber subscriber, Exception? error)
    {
        lock (_lock)
        {
            var current = _subscribers;
            int index = Array.IndexOf(current, subscriber);
            if (index >= 0)
            {
                var next = new FanOutSubscriber[current.Length - 1];
                Array.Copy(current, 0, next, 0, index);
                Array.Copy(current, index + 1, next, index, current.Length - index - 1);
                Volatile.Write(ref _subscribers, next);
            }
        }

        // Outside the lock: completing the queue may wake the subscriber's reader (on its own scheduler).
        subscriber.MarkDetached(error);
    }

    // The pump. Runs on the spawner; awaits without ConfigureAwait(false) (determinism rule, ADR 0003).
    private async Task PumpAsync(CancellationToken token)
    {
        Exception? error = null;
        try
        {
            // The token is checked before each wait too: a source with frames buffered answers its wait
            // at once without looking at the token, so a disposed pump would otherwise spin on it forever.
            while (!token.IsCancellationRequested && await _source.WaitToReadAsync(token))
            {
                // Checked per frame: a source that never runs dry must not keep a disposed pump alive.
                while (!token.IsCancellationRequested && _source.TryRead(out Frame frame))
                {
                    Route(frame);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Disposed: end subscribers normally.
        }
        catch (Exception ex)
        {
            // The source's terminal error (TransportException when the connection became unrecoverable).
            error = ex;
        }

        End(error);
    }

    // FanOut.F9: the pump owns `frame` until it returns: every subscriber that takes it gets a hold of
    // its own on a leased payload (the previous taker gets a new hold as soon as the next taker is known,
    // the last taker the pump's own), and a frame nobody takes is released here. The pump keeps its own
    // hold until the last offer, so a subscriber that evicts or releases its share meanwhile (or detaches,
    // its queue then releasing what arrives) never frees the buffer under the others.
    internal void Route(in Frame frame)
    {
        Interlocked.Increment(ref _framesRead);
        FanOutSubscriber[] subscribers = Volatile.Read(ref _subscribers);
        FanOutSubscriber? taker = null;
        foreach (FanOutSubscriber subscriber in subscribers)
        {
            if (!subscriber.Accepts(frame, out Exception? fault))
            {
                if (fault is not null)
                {
                    // FanOut.F7: the subscriber that brought the fault leaves; nobody else notices.
                    FanOutLog.FilterFaulted(_logger, subscriber.Name, fault.GetType().Name);
                    Detach(subscriber, new FanOutFilterException(subscriber.Name, fault));
                }

                continue;
            }

            taker?.Admit(frame.ShareLease());
            taker = subscriber;
        }

        if (taker is not null)
        {
            taker.Admit(frame);
            return;
        }

        if (subscribers.Length == 0)
        {
            Interlocked.Increment(ref _unrouted);
        }

        frame.Release(); // nobody took it (ADR 0013: whoever drops a frame releases it)
    }

    private void End(Exception? error)
    {
        FanOutSubscriber[] subscribers;
        lock (_lock)
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            _endError = error;
            subscribers = _subscribers;
            _subscribers = [];
        }

        foreach (FanOutSubscriber subscriber in subscribers)
        {
            subscriber.MarkDetached(error);
        }
    }
}

/// <summary>Starts a fan-out from a source.</summary>
public static class FrameSourceFanOutExtensions
{
    /// <summary>
    /// Creates a <see cref="FrameFanOut"/> over <paramref name="source"/> (not started: subscribe,
    /// then call <see cref="FrameFanOut.Start"/>).
    /// </summary>
    /// <param name="source">The source; the fan-out becomes its single consumer.</param>
    /// <param name="spawner">Where the pump runs; the thread pool when null.</param>
    /// <param name="logger">Where filter faults are logged.</param>
    /// <returns>The fan-out.</returns>
    public static FrameFanOut FanOut(this IFrameSource source, ISpawner? spawner = null, ILogger? logger = null) =>
        new(source, spawner, logger);
}

internal static partial class FanOutLog
{
    [LoggerMessage(EventId = 300, EventName = "FanOutFilterFaulted", Level = LogLevel.Warning, Message = "Fan-out subscriber {Subscriber}: its filter threw {ExceptionType}; the subscriber was detached.")]
    public static partial void FilterFaulted(ILogger logger, string subscriber, string exceptionType);
}

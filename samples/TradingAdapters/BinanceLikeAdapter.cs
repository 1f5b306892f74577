using Transport;

namespace TradingAdapters;

/// <summary>
/// A Binance-like market-data adapter: the venue disconnects clients that send more than 5
/// messages a second and closes every connection after 24 hours. So this adapter paces its
/// sends under the limit (<see cref="ConfigureTransport"/>) and rotates the connection itself,
/// make-before-break (<see cref="IConnectionControl.RotateAsync"/>), before the venue's 1001 arrives.
/// </summary>
/// <remarks>
/// Liveness is left to the transport (protocol pings and idle timeouts): Binance pings the
/// client, it needs no application keepalive. Replay, gap detection and reconcile come from
/// <see cref="FeedAdapter"/>.
/// </remarks>
public sealed class BinanceLikeAdapter : FeedAdapter
{
    private readonly TimeSpan? _rotateAfter;
    private CancellationTokenSource? _rotation; // the armed rotation timer of the current epoch; initializer-only (one socket at a time)

    /// <param name="topics">Topics to follow.</param>
    /// <param name="rotateAfter">
    /// Rotate make-before-break this long into each connection (the next socket is subscribed before this one
    /// closes; if it fails, a break-then-make reconnect follows); null disables. Choose the venue's lifetime
    /// minus a margin (24 h - 30 min). Or leave it null and let the transport do it: <see cref="ConfigureTransport"/>.
    /// </param>
    /// <param name="time">Clock of the rotation timer.</param>
    public BinanceLikeAdapter(IEnumerable<string> topics, TimeSpan? rotateAfter = null, TimeProvider? time = null)
        : base(topics, time)
    {
        if (rotateAfter is { } r && r <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(rotateAfter), r, "Must be positive.");
        _rotateAfter = rotateAfter;
    }

    /// <inheritdoc />
    public override string Name => "binance";

    /// <summary>
    /// The dedupe key of this venue's messages: (topic, seq) of a tick, where the venue numbers ticks venue-wide
    /// (Binance's update ids; the simulator with <c>VenueSequences</c>). Hand it to redundant legs
    /// (<c>RedundantConnectionOptions.KeySelector</c>) so each tick reaches the adapter once, whichever leg
    /// delivered it first. See <see cref="Protocol.VenueKeys"/>.
    /// </summary>
    public static FrameKeySelector KeySelector => Protocol.VenueKeys.TopicAndSeq;

    /// <summary>The venue's connection lifetime: Binance closes every connection after 24 hours.</summary>
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(24);

    /// <summary>
    /// How long before <see cref="SessionLifetime"/> the transport rotates make-before-break: 5 minutes, far more
    /// than a handshake, a login and a resubscribe take, and far less than the lifetime.
    /// </summary>
    public static readonly TimeSpan RotateBefore = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Transport configuration for this venue: every frame the sink writes (subscribes, snapshot
    /// requests) is paced under <paramref name="venueMessagesPerSecond"/>, so a 20-topic replay
    /// after a reconnect trickles out instead of earning a 1008 close; and the venue's 24 h lifetime is
    /// declared with a scheduled make-before-break rotation 5 minutes before it
    /// (<c>WithSessionLifetime(24 h, rotateBefore: 5 min)</c>), so its scheduled close costs no gap. Pair it with
    /// <see cref="KeySelector"/> (<c>WebSocketTransportBuilder.WithDedupeKey</c>) so the ticks both sockets carry
    /// during the overlap are delivered once.
    /// </summary>
    /// <param name="options">The options to configure.</param>
    /// <param name="venueMessagesPerSecond">The venue's inbound message limit.</param>
    /// <param name="lifetime">The venue's connection lifetime; null: <see cref="SessionLifetime"/> (24 h).</param>
    /// <param name="rotateBefore">The rotation's lead; null: <see cref="RotateBefore"/> (5 min).</param>
    /// <returns>The options.</returns>
    public static TransportOptionsBuilder ConfigureTransport(TransportOptionsBuilder options, int venueMessagesPerSecond = 5, TimeSpan? lifetime = null, TimeSpan? rotateBefore = null) =>
        VenueRateLimit.Apply(options, venueMessagesPerSecond)
            .WithSessionLifetime(lifetime ?? SessionLifetime, rotateBefore: rotateBefore ?? RotateBefore);

    /// <inheritdoc />
    protected override IEnumerable<Task> RunVenueTimersAsync(CancellationToken cancellationToken) => [];

    /// <inheritdoc />
    protected override void OnEpochStarted(long epoch, CancellationToken cancellationToken)
    {
        if (_rotateAfter is not { } after) return;
        // A connection that ended early (drop, chaos) takes its timer with it: the new one gets a full term.
        _rotation?.Cancel();
        _rotation?.Dispose();
        // Not linked to the initializer's token (it ends with the initializer): the timer lives until the adapter stops.
        _rotation = CancellationTokenSource.CreateLinkedTokenSource(Stopping);
        _ = RotateLaterAsync(epoch, after, _rotation.Token);
    }

    private async Task RotateLaterAsync(long epoch, TimeSpan after, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(after, Time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        // Only the connection this timer was armed for: if it already went down, there is nothing to rotate.
        if (CurrentUpEpoch() != epoch) return;
        Counters.Rotation();
        Note($"epoch {epoch} is {after.TotalSeconds:0.#} s old: rotating (make-before-break) before the venue's lifetime limit");
        RotationResult result;
        try
        {
            // Make-before-break: the next socket is opened and initialized (this adapter's replay) while this one
            // still serves; the lifecycle goes to Resumed on the next epoch without a down-edge.
            // Not this timer's token: the next socket's initializer (OnEpochStarted) cancels it to arm the next term.
            result = await Connection.Control.RotateAsync(Stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        Note($"rotation: {result}");
        if (result.Outcome == RotationOutcome.Failed && CurrentUpEpoch() == epoch)
        {
            // The next socket failed and this one keeps serving: break-then-make before the venue's close instead.
            Connection.Control.ReconnectTrigger.ForceReconnect("rotation failed; reconnecting before the venue's connection lifetime");
        }
    }
}

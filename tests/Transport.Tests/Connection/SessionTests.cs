using Microsoft.Extensions.Logging.Abstractions;
using Transport.Mock;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Connection;
using Transport.WebSockets.Lifecycle;
using Transport.WebSockets.Sending;
using Transport.WebSockets.Telemetry;

namespace Transport.Tests.Connection;

/// <summary>One session over a <see cref="MockSocket"/>, with a manual clock and pumped spawn.</summary>
public sealed class SessionTests : IDisposable
{
    private readonly ManualTimeProvider _clock = new();
    private readonly ManualSpawner _spawner = new();
    private readonly MockSocket _socket = new();
    private readonly LifecyclePublisher _lifecycle;
    private readonly ConnectionTelemetry _telemetry;
    private readonly PhaseMachine _phases;
    private readonly TaskCompletionSource _closeCutShort = new();

    public SessionTests()
    {
        _lifecycle = new LifecyclePublisher(_spawner, NullLogger.Instance);
        _telemetry = new ConnectionTelemetryFactory().Create("session-test", _clock, () => 0, () => 0, () => 0);
        _phases = new PhaseMachine(_lifecycle, _telemetry, NullLogger.Instance, "session-test", strict: true);
        Ring = new DropOldestRing(4, 1 << 20);
        Queue = new SendQueue(16, 1 << 20);
        Fence = new EpochFence(NullLogger.Instance);
    }

    private DropOldestRing Ring { get; }

    private SendQueue Queue { get; }

    private EpochFence Fence { get; }

    public void Dispose() => _telemetry.Dispose();

    private Session NewSession(long epoch = 0, Action<TransportOptionsBuilder>? configure = null)
    {
        var builder = new TransportOptionsBuilder().WithUri("ws://venue.test/ws").WithCloseTimeout(TimeSpan.FromSeconds(2));
        configure?.Invoke(builder);
        var options = builder.Build();
        var lag = new LagReporter(Ring, _phases, _spawner, NullLogger.Instance, options.Name);
        var services = new SessionServices(options, _clock, NullLogger.Instance, Ring, Queue, null, Fence, _phases, _telemetry, lag, () => false, _closeCutShort.Task, new Transport.WebSockets.Rotation.RotationOverlap(null, new DedupeWindowOptions(), _clock));
        return new Session(services, _socket, epoch, new SessionInfo(epoch, _clock.GetUtcNow(), null, [], new Dictionary<string, string>(), _socket.Capabilities, "ws://venue.test/ws"));
    }

    private Task<SessionEnd> Run(Session session, Action? wentUp = null)
    {
        Task<SessionEnd>? running = null;
        _ = _spawner.Spawn(() => running = session.RunAsync(wentUp ?? (() => _phases.Connected(0, 1, _clock.GetUtcNow()))));
        _spawner.RunUntilIdle();
        return running ?? throw new InvalidOperationException("The session did not start.");
    }

    [Fact]
    public void The_up_edge_comes_before_any_queued_data_is_written()
    {
        Assert.Equal(SendStatus.Accepted, Queue.TryEnqueue(new SendRequest(Frame.Text("queued while down"), default, tracked: false)));
        var sentAtUp = -1;

        var running = Run(NewSession(), () =>
        {
            sentAtUp = _socket.Sent.Count;
            _phases.Connected(0, 1, _clock.GetUtcNow());
        });

        Assert.Equal(0, sentAtUp);
        Assert.Equal(["queued while down"], _socket.SentTexts);
        Assert.False(running.IsCompleted);
    }

    [Fact]
    [Trait("Invariant", "Session.S1")]
    public void Received_data_goes_to_the_ring_and_a_full_ring_evicts_without_waiting()
    {
        Run(NewSession());

        for (var i = 0; i < 6; i++)
        {
            _socket.DeliverText("m" + i);
        }

        _spawner.RunUntilIdle();

        Assert.Equal(4, Ring.Count);
        Assert.Equal(2, Ring.TotalLagged);
        Assert.Equal(2, _lifecycle.Current.TotalLagged);
        Assert.True(_socket.IsReceivePending);
    }

    [Fact]
    [Trait("Invariant", "Session.S2")]
    public void A_ping_is_answered_with_a_pong()
    {
        Run(NewSession());

        _socket.DeliverPing([1, 2]);
        _spawner.RunUntilIdle();

        Assert.Equal(1, _socket.PongsSent);
        Assert.Equal(0, Ring.Count);
    }

    [Fact]
    public async Task A_close_from_the_peer_ends_the_session_as_failed_without_a_close_handshake()
    {
        var running = Run(NewSession());

        _socket.DeliverClose(4000, "bye");
        _spawner.RunUntilIdle();

        var end = await running;
        Assert.Equal(SessionEndReason.Failed, end.Reason);
        Assert.Equal(TransportErrorKind.ClosedByPeer, end.Error!.Kind);
        Assert.Null(_socket.CloseSent);
        Assert.True(_socket.IsDisposed);
    }

    [Fact]
    [Trait("Invariant", "Session.S4")]
    public async Task A_forced_end_closes_politely_and_delivers_what_the_peer_sent_before_its_close()
    {
        _socket.CloseBehavior = CloseBehavior.Complete;
        var session = NewSession();
        var running = Run(session);
        _socket.DeliverText("late");

        session.End(SessionEnd.Forced);
        _spawner.RunUntilIdle();

        var end = await running;
        Assert.Equal(SessionEndReason.Forced, end.Reason);
        Assert.Equal((CloseCodes.NormalClosure, "reconnect"), _socket.CloseSent);
        Assert.Equal(1, Ring.Count);
        Assert.True(_socket.IsDisposed);
    }

    [Fact]
    [Trait("Invariant", "Session.S4")]
    public async Task The_close_handshake_is_bounded_by_CloseTimeout()
    {
        _socket.CloseBehavior = CloseBehavior.Hang;
        var session = NewSession();
        var running = Run(session);

        session.End(SessionEnd.Shutdown);
        _spawner.RunUntilIdle();
        _clock.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromTicks(1));
        _spawner.RunUntilIdle();
        Assert.False(running.IsCompleted);

        _clock.Advance(TimeSpan.FromTicks(1));
        _spawner.RunUntilIdle();
        Assert.True(running.IsCompletedSuccessfully);
        Assert.Equal(SessionEndReason.Shutdown, (await running).Reason);
    }

    [Fact]
    [Trait("Invariant", "Session.S3")]
    [Trait("Invariant", "Session.S5")]
    public async Task An_interrupted_write_returns_the_frame_to_the_queue_and_nothing_follows_the_close()
    {
        _socket.SendBehavior = SendBehavior.Hang;
        var session = NewSession();
        var running = Run(session);
        Assert.Equal(SendStatus.Accepted, Queue.TryEnqueue(new SendRequest(Frame.Text("interrupted"), default, tracked: false)));
        _spawner.RunUntilIdle();
        Assert.Equal(0, Queue.Count);

        session.End(SessionEnd.Forced);
        _spawner.RunUntilIdle();
        await running;

        Assert.Equal(1, Queue.Count);
        Assert.Empty(_socket.Sent);
        Assert.NotNull(_socket.CloseSent);
    }

    [Fact]
    [Trait("Invariant", "Fence.E3")]
    public async Task The_writer_fails_a_frame_pinned_to_another_epoch()
    {
        Fence.Advance();
        var stale = new SendRequest(Frame.Text("old"), SendOptions.PinnedTo(0), tracked: true);
        var fresh = new SendRequest(Frame.Text("new"), SendOptions.PinnedTo(1), tracked: true);
        Assert.Equal(SendStatus.Accepted, Queue.TryEnqueue(stale));
        Assert.Equal(SendStatus.Accepted, Queue.TryEnqueue(fresh));

        _ = Run(NewSession(epoch: 1));

        Assert.Equal(["new"], _socket.SentTexts);
        Assert.True(fresh.Completion.IsCompletedSuccessfully);
        Assert.Equal(TransportErrorKind.StaleEpoch, (await Assert.ThrowsAsync<TransportException>(() => stale.Completion)).Kind);
    }

    [Fact]
    public async Task A_socket_failure_ends_the_session_with_its_error()
    {
        var running = Run(NewSession());

        _socket.Disconnect();
        _spawner.RunUntilIdle();

        var end = await running;
        Assert.Equal(SessionEndReason.Failed, end.Reason);
        Assert.Equal(TransportErrorKind.Connection, end.Error!.Kind);
        Assert.True(_socket.IsDisposed);
    }

    [Fact]
    public async Task DeadAfter_ends_the_session_with_a_timeout()
    {
        var running = Run(NewSession(configure: o => o.WithIdleTimeouts(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30))));

        _clock.Advance(TimeSpan.FromSeconds(5));
        _spawner.RunUntilIdle();
        Assert.Equal(ConnectionPhase.Stale, _lifecycle.Current.Phase);
        _socket.DeliverText("alive");
        _spawner.RunUntilIdle();
        Assert.Equal(ConnectionPhase.Connected, _lifecycle.Current.Phase);

        _clock.Advance(TimeSpan.FromSeconds(30));
        _spawner.RunUntilIdle();

        var end = await running;
        Assert.Equal(TransportErrorKind.Timeout, end.Error!.Kind);
    }
}

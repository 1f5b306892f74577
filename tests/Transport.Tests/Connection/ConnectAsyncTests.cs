using Microsoft.Extensions.Time.Testing;
using Transport.Mock;
using Transport.WebSockets;

namespace Transport.Tests.Connection;

/// <summary>
/// ConnectAsync means connected (issue 23): it completes when the first session is up, and fails with the
/// last error when the connection ends first, the caller cancels, or the timeout runs out; Start returns at
/// once. On the manual clock and the pumped spawner: nothing runs until pumped.
/// </summary>
public sealed class ConnectAsyncTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30); // a bound on continuations, never a timing

    [Fact]
    public void Start_returns_at_once_and_nothing_runs_until_pumped()
    {
        var (connector, clock, spawner) = MockHarness.Create();

        var connection = Build(connector, clock, spawner).Start();

        Assert.Equal(ConnectionPhase.Connecting, connection.Lifecycle.Current.Phase);
        Assert.Equal(0, connector.Attempts);
        spawner.RunUntilIdle();
        Assert.Equal(ConnectionPhase.Connected, connection.Lifecycle.Current.Phase);
    }

    [Fact]
    [Trait("Invariant", "Connect.C1")]
    public async Task C1_ConnectAsync_completes_only_when_the_first_session_is_up()
    {
        var (connector, clock, spawner) = MockHarness.Create();
        connector.FailNext(2, TransportException.Connection("refused"));
        var connecting = Build(connector, clock, spawner).ConnectAsync().AsTask();

        spawner.RunUntilIdle();
        Assert.False(connecting.IsCompleted); // the first attempt failed: backing off
        Advance(clock, spawner, TimeSpan.FromSeconds(1));
        Assert.False(connecting.IsCompleted);
        Advance(clock, spawner, TimeSpan.FromSeconds(1));

        var connection = await connecting.WaitAsync(Bound);
        Assert.Equal(ConnectionPhase.Connected, connection.Lifecycle.Current.Phase);
        Assert.Equal(3, connector.Attempts);
        Assert.NotNull(connection.Session);
        await spawner.RunUntilCompleted(connection.DisposeAsync());
    }

    [Fact]
    [Trait("Invariant", "Connect.C2")]
    public async Task C2_a_connection_that_ends_first_fails_it_with_the_last_error()
    {
        var (connector, clock, spawner) = MockHarness.Create();
        connector.FailNext(10, TransportException.HandshakeRejected(404));
        var connecting = Build(connector, clock, spawner, o => o.WithPermanentRetries(2)).ConnectAsync().AsTask();

        for (var i = 0; i < 5 && !connecting.IsCompleted; i++)
        {
            Advance(clock, spawner, TimeSpan.FromSeconds(1));
        }

        var error = await Assert.ThrowsAsync<TransportException>(() => connecting.WaitAsync(Bound));
        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.Equal(404, error.HttpStatus);
        Assert.Equal(404, Assert.IsType<TransportException>(error.InnerException).HttpStatus);
        Assert.Equal(
            "Connection conn ended Unrecoverable before it was up (phase Unrecoverable, 3 attempts). Last error: Connection (HTTP 404): " +
            "The server rejected the handshake with HTTP 404: path not found on the server (check the URI's path).",
            error.Message);
        Assert.Equal(3, connector.Attempts);
    }

    [Fact]
    [Trait("Invariant", "Connect.C2")]
    public async Task C2_an_exhausted_MaxAttempts_cap_fails_it_as_Closed()
    {
        var (connector, clock, spawner) = MockHarness.Create();
        connector.FailNext(10, TransportException.Connection("refused"));
        var connecting = Build(connector, clock, spawner, o => o.WithMaxAttempts(2)).ConnectAsync().AsTask();

        for (var i = 0; i < 5 && !connecting.IsCompleted; i++)
        {
            Advance(clock, spawner, TimeSpan.FromSeconds(1));
        }

        var error = await Assert.ThrowsAsync<TransportException>(() => connecting.WaitAsync(Bound));
        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.StartsWith("Connection conn ended Closed: MaxAttempts ran out before it was up (phase Closed, 2 attempts). Last error: Connection: refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Invariant", "Connect.C3")]
    public async Task C3_cancel_or_timeout_fails_it_and_shuts_the_connection_down()
    {
        // The caller's token: an OperationCanceledException that still says why it was not up.
        var (connector, clock, spawner) = MockHarness.Create();
        connector.FailNext(1_000, TransportException.Connection("refused"));
        using var cancel = new CancellationTokenSource();
        var connecting = Build(connector, clock, spawner).ConnectAsync(cancel.Token).AsTask();
        Advance(clock, spawner, TimeSpan.FromSeconds(1));
        await cancel.CancelAsync();

        var cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting.WaitAsync(Bound));
        Assert.Equal(cancel.Token, cancelled.CancellationToken);
        Assert.StartsWith("ConnectAsync was cancelled before connection conn was up (phase Connecting, 2 attempts); the connection was shut down. Last error: Connection: refused", cancelled.Message, StringComparison.Ordinal);
        Assert.IsType<TransportException>(cancelled.InnerException);
        AssertNoMoreAttempts(connector, clock, spawner);

        // The timeout, on the connector's clock: a TransportException of kind Timeout with the last error.
        (connector, clock, spawner) = MockHarness.Create();
        connector.FailNext(1_000, TransportException.HandshakeRejected(503));
        var bounded = Build(connector, clock, spawner).ConnectAsync(TimeSpan.FromSeconds(5)).AsTask();
        for (var i = 0; i < 6; i++)
        {
            Advance(clock, spawner, TimeSpan.FromSeconds(1));
        }

        var timedOut = await Assert.ThrowsAsync<TransportException>(() => bounded.WaitAsync(Bound));
        Assert.Equal(TransportErrorKind.Timeout, timedOut.Kind);
        Assert.Equal(503, timedOut.HttpStatus);
        Assert.Matches(@"^Connection conn was not up within 00:00:05 \(phase Connecting, \d+ attempts\); the connection was shut down\. Last error: Connection \(HTTP 503\): The server rejected the handshake with HTTP 503\.$", timedOut.Message);
        AssertNoMoreAttempts(connector, clock, spawner);
    }

    [Fact]
    [Trait("Invariant", "Fake.F6")]
    public async Task The_fakes_connector_starts_its_connection_and_connects_when_the_script_goes_up()
    {
        await using var fake = new FakeReconnectingConnection();
        Assert.Same(fake.Connection, fake.Connector.Start());

        var connecting = fake.Connector.ConnectAsync().AsTask();
        Assert.False(connecting.IsCompleted);
        fake.GoUp();

        Assert.Same(fake.Connection, await connecting.WaitAsync(Bound));
        Assert.Equal(2, fake.StartCount);

        await using var ending = new FakeReconnectingConnection();
        var failing = ending.Connector.ConnectAsync().AsTask();
        ending.Terminate(ConnectionPhase.Unrecoverable, TransportException.Auth(401));
        var error = await Assert.ThrowsAsync<TransportException>(() => failing.WaitAsync(Bound));
        Assert.Equal(TransportErrorKind.Auth, error.Kind);
        Assert.Equal(401, error.HttpStatus);
    }

    private static ReconnectingConnector Build(ScriptedConnector connector, FakeTimeProvider clock, ManualSpawner spawner, Action<TransportOptionsBuilder>? configure = null) =>
        new WebSocketTransportBuilder()
            .Configure(o =>
            {
                o.WithName("conn").WithUri("ws://venue.test/ws").WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), useJitter: false).WithoutAttemptRateLimit();
                configure?.Invoke(o);
            })
            .UseLeaf(connector).WithTimeProvider(clock).WithSpawner(spawner)
            .Build();

    private static void Advance(FakeTimeProvider clock, ManualSpawner spawner, TimeSpan by)
    {
        spawner.RunUntilIdle();
        clock.Advance(by);
        spawner.RunUntilIdle();
    }

    private static void AssertNoMoreAttempts(ScriptedConnector connector, FakeTimeProvider clock, ManualSpawner spawner)
    {
        spawner.RunUntilIdle();
        var attempts = connector.Attempts;
        Advance(clock, spawner, TimeSpan.FromMinutes(10));
        Assert.Equal(attempts, connector.Attempts);
    }
}

namespace Transport;

/// <summary>
/// What an adapter holds: one logical connection that survives socket loss. Its four parts are
/// stable for its whole life.
/// </summary>
public sealed class ReconnectingConnection : IAsyncDisposable
{
    /// <summary>Assembles a connection from its parts (used by stack implementations).</summary>
    /// <param name="name">The connection's name (logs, metrics, traces).</param>
    /// <param name="sink">The send side.</param>
    /// <param name="source">The receive side.</param>
    /// <param name="lifecycle">The lifecycle channel.</param>
    /// <param name="control">The control verbs.</param>
    public ReconnectingConnection(string name, IFrameSink sink, IFrameSource source, ILifecycleChannel lifecycle, IConnectionControl control)
        : this(name, sink, source, lifecycle, control, null)
    {
    }

    /// <summary>Assembles a connection from its parts, with the current session's facts (used by stack implementations).</summary>
    /// <param name="name">The connection's name (logs, metrics, traces).</param>
    /// <param name="sink">The send side.</param>
    /// <param name="source">The receive side.</param>
    /// <param name="lifecycle">The lifecycle channel.</param>
    /// <param name="control">The control verbs.</param>
    /// <param name="session">Returns the facts of the current (or last) session; null: none known.</param>
    public ReconnectingConnection(string name, IFrameSink sink, IFrameSource source, ILifecycleChannel lifecycle, IConnectionControl control, Func<SessionInfo?>? session)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(lifecycle);
        ArgumentNullException.ThrowIfNull(control);
        Name = name;
        Sink = sink;
        Source = source;
        Lifecycle = lifecycle;
        Control = control;
        _session = session;
    }

    private readonly Func<SessionInfo?>? _session;

    /// <summary>The connection's name.</summary>
    public string Name { get; }

    /// <summary>The send side, stable across reconnects.</summary>
    public IFrameSink Sink { get; }

    /// <summary>The data frames of every epoch.</summary>
    public IFrameSource Source { get; }

    /// <summary>The lifecycle snapshots.</summary>
    public ILifecycleChannel Lifecycle { get; }

    /// <summary>Shutdown and forced reconnect.</summary>
    public IConnectionControl Control { get; }

    /// <summary>
    /// The facts of the current session (the newest socket that went up): epoch, negotiated
    /// subprotocol and extensions, selected response headers, connect time. Null before the first
    /// session went up. While the feed is down it still describes the last session (compare its
    /// <see cref="SessionInfo.Epoch"/> with <see cref="ILifecycleChannel.Current"/>).
    /// </summary>
    public SessionInfo? Session => _session?.Invoke();

    /// <summary>Make-before-break rotation to a new socket (see <see cref="IConnectionControl.RotateAsync"/>).</summary>
    /// <param name="cancellationToken">Abandons the rotation before the switch; after it, ends the wait only.</param>
    /// <returns>How the rotation ended.</returns>
    public Task<RotationResult> RotateAsync(CancellationToken cancellationToken = default) => Control.RotateAsync(cancellationToken);

    /// <summary>Shuts the connection down (see <see cref="IConnectionControl.ShutdownAsync"/>).</summary>
    /// <returns>Completes when the actor has stopped.</returns>
    /// <remarks>
    /// Returns the shutdown task itself (no extra continuation), so under a test's pumped spawner the
    /// disposal completes inside the pump step that stopped the actor.
    /// </remarks>
    public ValueTask DisposeAsync() => new(Control.ShutdownAsync());

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {Lifecycle.Current}";
}

/// <summary>The usage seam: what the assembled stack exposes.</summary>
/// <remarks>
/// Two ways to start a connection, as .NET clients do: <see cref="ConnectAsync"/> completes when it is
/// connected (as <c>ClientWebSocket.ConnectAsync</c>, SignalR's <c>StartAsync</c> and NATS's
/// <c>ConnectAsync</c> do), <see cref="Start"/> returns at once and connects in the background (what a
/// hosted connection, a connection pool, or a test driving a manual clock needs). Either way the
/// connection then reconnects on its own for its whole life.
/// </remarks>
public interface IReconnectingConnector
{
    /// <summary>
    /// Starts a reconnecting connection and completes when its first session is up (phase
    /// <see cref="ConnectionPhase.Connected"/>: the handshake and the session initializer, a login for
    /// example, succeeded; <see cref="ReconnectingConnection.Session"/> is set). Transient failures are
    /// retried meanwhile, with the connection's backoff, for as long as the caller waits.
    /// </summary>
    /// <param name="cancellationToken">How long the caller waits (bound it, or use the <c>ConnectAsync(TimeSpan, CancellationToken)</c> extension).</param>
    /// <returns>The connected connection; it reconnects on its own from then on.</returns>
    /// <exception cref="TransportException">The connection ended before it was up: <see cref="ConnectionPhase.Unrecoverable"/>
    /// (a Permanent failure outlived its retries: 401, 404, a rejected certificate...) or <see cref="ConnectionPhase.Closed"/>
    /// (a <c>MaxAttempts</c> cap ran out). Kind, HTTP status and close code are the last error's, which is also the inner exception.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first; the message names the
    /// phase, the attempts and the last error (also the inner exception). The connection is shut down.</exception>
    ValueTask<ReconnectingConnection> ConnectAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts a reconnecting connection and returns it at once, in phase <see cref="ConnectionPhase.Connecting"/>:
    /// it connects in the background. Observe <see cref="ReconnectingConnection.Lifecycle"/> to know
    /// when frames flow (<see cref="LifecycleChannelExtensions.WaitUntilUpAsync"/>), or complete the
    /// connect later with <see cref="ConnectionStart.CompleteAsync"/>. Sends made before the first up-edge
    /// are queued and go out on it.
    /// </summary>
    /// <returns>The connection, connecting.</returns>
    ReconnectingConnection Start();
}

/// <summary>Helpers over <see cref="IReconnectingConnector"/>.</summary>
public static class ReconnectingConnectorExtensions
{
    /// <summary>
    /// <see cref="IReconnectingConnector.ConnectAsync"/> with a bound: completes when the first session is
    /// up, or fails when the connection ends first or <paramref name="timeout"/> runs out.
    /// </summary>
    /// <param name="connector">The connector.</param>
    /// <param name="timeout">How long to wait for the first up-edge.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The connected connection.</returns>
    /// <exception cref="TransportException">The connection ended before it was up, or (kind <see cref="TransportErrorKind.Timeout"/>)
    /// <paramref name="timeout"/> ran out; the message names the phase, the attempts and the last error (the inner exception).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public static ValueTask<ReconnectingConnection> ConnectAsync(this IReconnectingConnector connector, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connector);
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "Must be positive (or Timeout.InfiniteTimeSpan).");
        }

        cancellationToken.ThrowIfCancellationRequested();
        return ConnectionStart.CompleteAsync(connector.Start(), timeout == Timeout.InfiniteTimeSpan ? null : timeout, cancellationToken);
    }
}

/// <summary>
/// What <see cref="IReconnectingConnector.ConnectAsync"/> does after <see cref="IReconnectingConnector.Start"/>:
/// for implementers of <see cref="IReconnectingConnector"/>, and for code that started a connection and now
/// wants to wait for it the same way.
/// </summary>
/// <remarks>
/// <para>Invariants (tests: <c>tests/Transport.Tests/Connection/ConnectAsyncTests.cs</c>):</para>
/// <list type="bullet">
/// <item>Connect.C1 it completes only once the connection is up, through every transient failure before
/// that (C1_ConnectAsync_completes_only_when_the_first_session_is_up).</item>
/// <item>Connect.C2 a connection that ends first (Unrecoverable, Closed) fails it with a
/// <see cref="TransportException"/> carrying the last error's kind, status and close code, the last error
/// as inner exception, and a message naming the phase and the attempts
/// (C2_a_connection_that_ends_first_fails_it_with_the_last_error).</item>
/// <item>Connect.C3 the caller's token (an <see cref="OperationCanceledException"/>) or the timeout (a
/// <see cref="TransportException"/> of kind Timeout) fails it with the last error too, and the connection is
/// shut down: nothing keeps reconnecting behind a failed connect (C3_cancel_or_timeout_fails_it_and_shuts_the_connection_down).</item>
/// </list>
/// </remarks>
public static class ConnectionStart
{
    /// <summary>
    /// Waits until <paramref name="started"/> is up (Connected, Stale or Resumed) and returns it. When
    /// it ends first (Unrecoverable, Closed), the time runs out or the caller cancels, the connection
    /// is shut down (in the background, never waited for) and the failure is thrown with the last error.
    /// </summary>
    /// <param name="started">A connection just started.</param>
    /// <param name="timeout">How long to wait; null: until <paramref name="cancellationToken"/>.</param>
    /// <param name="cancellationToken">Cancels the wait (and so the connect).</param>
    /// <param name="timeProvider">The clock of <paramref name="timeout"/> (the connection's, so a test's manual clock bounds it); null: the system clock.</param>
    /// <returns><paramref name="started"/>, up.</returns>
    /// <exception cref="TransportException">The connection ended before it was up, or the timeout ran out (kind Timeout).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public static async ValueTask<ReconnectingConnection> CompleteAsync(ReconnectingConnection started, TimeSpan? timeout, CancellationToken cancellationToken, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(started);
        using var bound = timeout is { } t ? new CancellationTokenSource(t, timeProvider ?? TimeProvider.System) : null;
        using var linked = bound is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, bound.Token);
        LifecycleSnapshot reached;
        try
        {
            reached = await started.Lifecycle.WaitAsync(static s => s.IsUp || s.IsTerminal, linked?.Token ?? cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex)
        {
            var now = started.Lifecycle.Current;
            ShutDownInBackground(started);
            if (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(
                    $"ConnectAsync was cancelled before connection {started.Name} was up ({Facts(now)}); the connection was shut down. Last error: {LastError(now)}",
                    now.LastError ?? (Exception)ex,
                    cancellationToken);
            }

            throw Failure(now, TransportErrorKind.Timeout, $"Connection {started.Name} was not up within {timeout} ({Facts(now)}); the connection was shut down. Last error: {LastError(now)}");
        }
        catch (TransportException) when (started.Lifecycle.Current.IsTerminal)
        {
            reached = started.Lifecycle.Current; // the channel completed while the wait was being set up
        }

        if (reached.IsUp)
        {
            return started;
        }

        ShutDownInBackground(started);
        var ended = reached.Exhausted ? "Closed: MaxAttempts ran out" : reached.Phase.ToString();
        throw Failure(reached, reached.LastError?.Kind ?? TransportErrorKind.Shutdown, $"Connection {started.Name} ended {ended} before it was up ({Facts(reached)}). Last error: {LastError(reached)}");
    }

    private static string Facts(LifecycleSnapshot s) => $"phase {s.Phase}, {s.Attempts} attempt{(s.Attempts == 1 ? string.Empty : "s")}";

    private static string LastError(LifecycleSnapshot s) => s.LastError is { } e ? $"{e.Kind}{(e.HttpStatus is { } h ? $" (HTTP {h})" : e.CloseCode is { } c ? $" (close {c})" : string.Empty)}: {e.Message}" : "none yet (the first attempt had not finished)";

    private static TransportException Failure(LifecycleSnapshot s, TransportErrorKind kind, string message) =>
        new(kind, message, s.LastError?.HttpStatus, s.LastError?.CloseCode, s.LastError?.CloseReason, s.LastError, s.LastError?.RetryAfter);

    private static void ShutDownInBackground(ReconnectingConnection connection) =>
        _ = connection.Control.ShutdownAsync(CancellationToken.None).ContinueWith(
            static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}

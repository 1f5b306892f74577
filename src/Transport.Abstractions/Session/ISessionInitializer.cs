namespace Transport;

/// <summary>
/// Runs on every new socket before the stack releases queued data frames and before it publishes
/// the up-edge (<see cref="ConnectionPhase.Connected"/> or <see cref="ConnectionPhase.Resumed"/>):
/// the place for in-band login, re-subscription and session resume.
/// </summary>
/// <remarks>
/// <para>
/// Frames sent through <see cref="ISessionContext.Sink"/> go out on this socket ahead of everything
/// queued on the connection's sink; frames sent to the connection's sink meanwhile wait, so a queued
/// order never reaches the venue before the login.
/// </para>
/// <para>
/// Data frames the venue sends while it runs reach <see cref="ReconnectingConnection.Source"/> only after
/// the up-edge, so a consumer that reads one finds the lifecycle already up on its epoch; its
/// <see cref="ISessionContext.WaitForFrameAsync"/> waits see them as they arrive.
/// </para>
/// <para>
/// Failure is an attempt failure: an exception or running past <see cref="SessionOptions.InitializeTimeout"/>
/// closes the socket, the up-edge is not published, and the error is classified by the
/// <see cref="IFailureClassifier"/> like a failed connect. Throw a <see cref="TransportException"/> of
/// kind <see cref="TransportErrorKind.Auth"/> for a login rejection: the default classifier treats it
/// as Permanent. Any other exception is logged (type only) and treated as Transient.
/// </para>
/// </remarks>
public interface ISessionInitializer
{
    /// <summary>Prepares one new socket (login, resubscribe, resume).</summary>
    /// <param name="context">This socket's epoch, handshake facts, pinned sink and frame matcher.</param>
    /// <param name="cancellationToken">Fires at the timeout, at shutdown, or when the socket fails.</param>
    /// <returns>Completes when the session is ready for queued data.</returns>
    ValueTask InitializeAsync(ISessionContext context, CancellationToken cancellationToken);
}

/// <summary>What a session initializer gets: one new socket, before anything else uses it.</summary>
public interface ISessionContext
{
    /// <summary>The epoch of this socket: frames received on it carry it, and the up-edge will publish it.</summary>
    long Epoch { get; }

    /// <summary>False only for the first socket of the connection (epoch 0).</summary>
    bool IsReconnect { get; }

    /// <summary>The facts of this socket (the same object <see cref="ReconnectingConnection.Session"/> shows once it is up).</summary>
    SessionInfo Session { get; }

    /// <summary>
    /// The whole handshake response as the leaf saw it (all headers, not only the selected ones).
    /// Available only here; its <c>ToString()</c> never prints header values.
    /// </summary>
    HandshakeResponse Handshake { get; }

    /// <summary>
    /// A sink pinned to this epoch. While the initializer runs, its frames are written straight to
    /// this socket (paced like every send, ahead of queued data); afterwards they join the
    /// connection's data lane pinned to this epoch. Once this socket has ended every send fails with
    /// <see cref="TransportErrorKind.StaleEpoch"/>.
    /// </summary>
    IFrameSink Sink { get; }

    /// <summary>
    /// Waits for the next data frame received on this socket that <paramref name="match"/> accepts
    /// (for example a login acknowledgement). Matching starts when this is called, so call it before
    /// sending the request it answers, then await it. The frame is also delivered to the source, right
    /// after this socket's up-edge: frames received while the initializer runs are held until then (and
    /// dropped, counted in <see cref="LifecycleSnapshot.TotalLagged"/>, if the socket never goes up). In
    /// lease mode the wait returns its own copy of the frame.
    /// </summary>
    /// <param name="match">Returns true for the awaited frame; an exception it throws fails the wait.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The first matching frame.</returns>
    /// <exception cref="TransportException">
    /// Kind <see cref="TransportErrorKind.Timeout"/> when nothing matched in time; the socket's own
    /// error when it ended first; <see cref="TransportErrorKind.Cancelled"/> when cancelled.
    /// </exception>
    Task<Frame> WaitForFrameAsync(Func<Frame, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default);
}

/// <summary>Ready-made session initializers.</summary>
public static class SessionInitializers
{
    /// <summary>A session initializer from a delegate.</summary>
    /// <param name="initialize">Called on every new socket.</param>
    /// <returns>The initializer.</returns>
    public static ISessionInitializer From(Func<ISessionContext, CancellationToken, ValueTask> initialize)
    {
        ArgumentNullException.ThrowIfNull(initialize);
        return new DelegateInitializer(initialize);
    }

    /// <summary>Runs <paramref name="initializers"/> one after the other on each socket.</summary>
    /// <param name="initializers">The initializers, in order.</param>
    /// <returns>The combined initializer.</returns>
    public static ISessionInitializer Sequence(params ISessionInitializer[] initializers)
    {
        ArgumentNullException.ThrowIfNull(initializers);
        var copy = initializers.ToArray();
        return From(async (context, cancellationToken) =>
        {
            foreach (var initializer in copy)
            {
                // No ConfigureAwait(false): this runs on the actor's scheduler (ADR 0003).
                await initializer.InitializeAsync(context, cancellationToken);
            }
        });
    }

    private sealed class DelegateInitializer(Func<ISessionContext, CancellationToken, ValueTask> initialize) : ISessionInitializer
    {
        public ValueTask InitializeAsync(ISessionContext context, CancellationToken cancellationToken) => initialize(context, cancellationToken);
    }
}

namespace Transport.Mock;

/// <summary>
/// Scripts the next unscripted connect attempt of a <see cref="ScriptedConnector"/>. Each call on
/// it appends one attempt to the connector's script; attempts consume the script in order.
/// </summary>
/// <remarks>Obtained from <see cref="ScriptedConnector.Next"/>: <c>connector.Next.Fails(error)</c>.</remarks>
public sealed class AttemptScript
{
    private readonly ScriptedConnector _connector;

    internal AttemptScript(ScriptedConnector connector)
    {
        _connector = connector;
    }

    /// <summary>The attempt succeeds with a fresh socket, returned now so the test can pre-load frames.</summary>
    /// <param name="subProtocol">The subprotocol the server selects, if any.</param>
    /// <returns>The socket the attempt will yield.</returns>
    public MockSocket Succeeds(string? subProtocol = null) => Succeeds(new MockSocket(subProtocol));

    /// <summary>The attempt succeeds with a fresh socket whose handshake response is <paramref name="handshake"/>.</summary>
    /// <param name="handshake">The scripted response: subprotocol, extensions, headers.</param>
    /// <param name="capabilities">What the socket's leaf can see; null: the mock's default (surfaces pings and pongs).</param>
    /// <returns>The socket the attempt will yield.</returns>
    public MockSocket Succeeds(HandshakeResponse handshake, LeafCapabilities? capabilities = null)
    {
        var socket = new MockSocket(handshake);
        if (capabilities is { } c)
        {
            socket.Capabilities = c;
        }

        return Succeeds(socket);
    }

    /// <summary>The attempt succeeds with <paramref name="socket"/>.</summary>
    /// <param name="socket">The socket the attempt will yield.</param>
    /// <returns><paramref name="socket"/>.</returns>
    public MockSocket Succeeds(MockSocket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        _connector.Enqueue(new ScriptedConnector.Step(AttemptOutcomeKind.Succeed, null, socket));
        return socket;
    }

    /// <summary>The attempt throws <paramref name="error"/>.</summary>
    /// <param name="error">The error (for example <c>TransportException.HandshakeRejected(401)</c>).</param>
    public void Fails(TransportException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        _connector.Enqueue(new ScriptedConnector.Step(AttemptOutcomeKind.Fail, error, null));
    }

    /// <summary>The attempt never completes until its token fires, then throws <see cref="OperationCanceledException"/> for that token.</summary>
    public void Hangs() => _connector.Enqueue(new ScriptedConnector.Step(AttemptOutcomeKind.Hang, null, null));
}

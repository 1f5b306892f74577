namespace Transport;

/// <summary>
/// The composition seam: opens one raw WebSocket and hands back its two halves. No reconnect,
/// no control verbs; the reconnecting stack above it owns all of that.
/// </summary>
/// <remarks>
/// Implementations: the <c>ClientWebSocket</c> leaf in Transport.WebSockets and the scripted
/// connector in Transport.Mock. Nothing in the stack cares which.
/// </remarks>
public interface ILeafConnector
{
    /// <summary>Performs the handshake.</summary>
    /// <param name="handshake">The attempt's handshake, already stamped by the auth source.</param>
    /// <param name="cancellationToken">Cancels the attempt (the stack's per-attempt connect timeout uses it).</param>
    /// <returns>The open connection; the caller owns and disposes it.</returns>
    /// <exception cref="TransportException">The handshake failed; the kind, HTTP status and close code say how.</exception>
    ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken);
}

/// <summary>One open raw socket: an owned send half and receive half.</summary>
/// <remarks>
/// One sender and one receiver may run concurrently (one send and one receive in flight at a
/// time, as with <c>ClientWebSocket</c>). <see cref="IAsyncDisposable.DisposeAsync"/> aborts
/// the socket without a close handshake; use <see cref="ILeafSender.CloseAsync"/> first for a
/// graceful close.
/// </remarks>
public interface ILeafConnection : IAsyncDisposable
{
    /// <summary>The send half.</summary>
    ILeafSender Sender { get; }

    /// <summary>The receive half.</summary>
    ILeafReceiver Receiver { get; }

    /// <summary>The subprotocol the server selected, if any.</summary>
    string? SubProtocol { get; }

    /// <summary>
    /// What the handshake response said: status, negotiated subprotocol and extensions, response
    /// headers. A leaf that cannot see them reports what it knows (the default: the subprotocol).
    /// </summary>
    HandshakeResponse Handshake => new(101, SubProtocol, [], HandshakeResponse.NoHeaders);

    /// <summary>What this leaf can see and does by itself (pings, pongs, keep-alive, batch receive).</summary>
    LeafCapabilities Capabilities => LeafCapabilities.None;
}

/// <summary>The send half of one raw socket.</summary>
public interface ILeafSender
{
    /// <summary>Writes one whole message.</summary>
    /// <param name="frame">
    /// Text or binary data, or a pong answering a ping the receiver surfaced. A leaf whose socket
    /// answers pings itself (ClientWebSocket) never surfaces pings, and ignores ping/pong sends.
    /// A close frame starts the close handshake (output side only).
    /// </param>
    /// <param name="cancellationToken">Cancels the write; the socket is then unusable.</param>
    /// <returns>Completes when the frame was handed to the network stack.</returns>
    /// <exception cref="TransportException">The socket failed.</exception>
    ValueTask SendAsync(Frame frame, CancellationToken cancellationToken);

    /// <summary>
    /// Sends our close frame (the output half of the close handshake). The peer's answer arrives
    /// through <see cref="ILeafReceiver.ReceiveAsync"/> as a close frame: keep receiving to see it,
    /// and to get the data frames the peer sent before it.
    /// </summary>
    /// <param name="code">The close code.</param>
    /// <param name="reason">The reason.</param>
    /// <param name="cancellationToken">Bounds the send; when it fires the leaf may abort the socket.</param>
    /// <returns>Completes when our close frame was handed to the network stack.</returns>
    ValueTask CloseAsync(int code, string? reason, CancellationToken cancellationToken);
}

/// <summary>The receive half of one raw socket.</summary>
public interface ILeafReceiver
{
    /// <summary>Reads the next whole message (fragments reassembled).</summary>
    /// <param name="cancellationToken">Cancels the read; the socket is then unusable.</param>
    /// <returns>
    /// A data frame, a ping or pong (where the leaf surfaces them), or a close frame, after which
    /// the receiver is finished.
    /// </returns>
    /// <exception cref="TransportException">
    /// The socket failed, a message exceeded the size limit (kind MessageTooBig, closed with 1009),
    /// or a text message was not valid UTF-8 (kind Protocol, closed with 1007).
    /// </exception>
    ValueTask<Frame> ReceiveAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Takes the next whole message if the leaf has already read and parsed it, without waiting;
    /// lets the stack hand a whole socket read to the receive ring as one batch.
    /// </summary>
    /// <param name="frame">The frame, when this returns true.</param>
    /// <returns>
    /// True when a frame was taken; false when the next frame needs a read (call
    /// <see cref="ReceiveAsync"/>). Never throws for a socket failure: the failure surfaces from the
    /// next <see cref="ReceiveAsync"/>. The default implementation always returns false.
    /// </returns>
    bool TryReceive(out Frame frame)
    {
        frame = default;
        return false;
    }
}

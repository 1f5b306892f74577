using System.Net.WebSockets;

namespace Transport.WebSockets;

/// <summary>The send half: one whole message per frame, closes through the shared send gate.</summary>
/// <remarks>
/// Ping and pong frames are ignored: ClientWebSocket answers protocol pings itself (and sends its
/// own keep-alive pings), and it has no API to send either.
/// </remarks>
internal sealed class ClientWebSocketSender(ClientWebSocket socket, SendGate gate) : ILeafSender
{
    public async ValueTask SendAsync(Frame frame, CancellationToken cancellationToken)
    {
        if (!FrameValidation.HasValidText(frame))
        {
            // Send.V1: ClientWebSocket would send it as it is; refused before a byte is written.
            throw new ArgumentException(FrameValidation.InvalidUtf8Message(frame.Payload.Span), nameof(frame));
        }

        try
        {
            switch (frame.Kind)
            {
                case FrameKind.Text:
                    await gate.RunAsync(frame.Payload, WebSocketMessageType.Text, cancellationToken).ConfigureAwait(false);
                    break;
                case FrameKind.Binary:
                    await gate.RunAsync(frame.Payload, WebSocketMessageType.Binary, cancellationToken).ConfigureAwait(false);
                    break;
                case FrameKind.Close:
                    await gate.RunAsync((s, ct) => s.CloseOutputAsync((WebSocketCloseStatus)frame.CloseCode, frame.CloseReason, ct), cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    // Ping/Pong: ClientWebSocket handles protocol pings itself (see remarks).
                    break;
            }
        }
        catch (Exception ex) when (ex is not TransportException and not OperationCanceledException)
        {
            throw WebSocketFailures.MapSend(ex);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The socket was aborted under the send (dispose, keep-alive timeout), not cancelled by our caller.
            throw TransportException.Connection("The socket was aborted during a send.");
        }
    }

    public async ValueTask CloseAsync(int code, string? reason, CancellationToken cancellationToken)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived or WebSocketState.CloseSent))
        {
            return;
        }

        try
        {
            // Only our half: ClientWebSocket.CloseAsync would also wait for the peer's close by
            // running receives of its own, discarding data frames that arrive meanwhile and racing
            // the stack's receive loop. The stack keeps receiving until the peer's close arrives
            // (frames sent during the close handshake are delivered, not lost).
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await gate.RunAsync((s, ct) => s.CloseOutputAsync((WebSocketCloseStatus)code, reason, ct), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The caller's bound ran out: give up on the peer's close and tear the socket down.
            socket.Abort();
        }
        catch (Exception ex) when (ex is not TransportException and not OperationCanceledException)
        {
            throw WebSocketFailures.MapSend(ex);
        }
    }
}

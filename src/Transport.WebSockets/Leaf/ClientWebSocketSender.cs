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
            // CloseAsync sends our close and then waits for the peer's; the gate keeps it from
            // interleaving with a send in flight.
            await gate.RunAsync((s, ct) => s.CloseAsync((WebSocketCloseStatus)code, reason, ct), cancellationToken).ConfigureAwait(false);
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

using System.Net.WebSockets;

namespace Transport.WebSockets;

/// <summary>One open <see cref="ClientWebSocket"/>: its send half, its receive half and the negotiated subprotocol.</summary>
/// <remarks>
/// The two halves share a send gate: the receiver also writes (it echoes the peer's close and
/// closes with 1007/1009 on a bad message), and ClientWebSocket allows one send at a time.
/// </remarks>
internal sealed class ClientWebSocketConnection : ILeafConnection
{
    private readonly ClientWebSocket _socket;
    private readonly ClientWebSocketReceiver _receiver;
    private int _disposed;

    public ClientWebSocketConnection(ClientWebSocket socket, int maxMessageBytes, int receiveBufferBytes, bool keepAliveTimeoutEnabled, Buffering.PayloadAllocator? payloads = null)
    {
        _socket = socket;
        var gate = new SendGate(socket);
        Sender = new ClientWebSocketSender(socket, gate);
        _receiver = new ClientWebSocketReceiver(socket, gate, maxMessageBytes, receiveBufferBytes, keepAliveTimeoutEnabled, payloads);
        SubProtocol = socket.SubProtocol;
        Extensions = socket.HttpResponseHeaders?.TryGetValue("Sec-WebSocket-Extensions", out var extensions) == true ? string.Join(", ", extensions) : null;
    }

    public ILeafSender Sender { get; }

    public ILeafReceiver Receiver => _receiver;

    public string? SubProtocol { get; }

    /// <summary>The extensions the server accepted (Sec-WebSocket-Extensions), for diagnostics and tests.</summary>
    public string? Extensions { get; }

    /// <summary>Aborts the socket (no close handshake) and releases the receive buffer.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _socket.Abort();
            _socket.Dispose();
            _receiver.Release();
        }

        return ValueTask.CompletedTask;
    }
}

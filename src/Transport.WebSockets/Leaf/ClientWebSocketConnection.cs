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

    public ClientWebSocketConnection(ClientWebSocket socket, int maxMessageBytes, int receiveBufferBytes, bool keepAliveTimeoutEnabled, TimeProvider time, Buffering.PayloadAllocator? payloads = null)
    {
        _socket = socket;
        var gate = new SendGate(socket);
        Sender = new ClientWebSocketSender(socket, gate);
        SubProtocol = socket.SubProtocol;

        // CollectHttpResponseDetails is set by the connector, so the 101's headers are visible.
        var headers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in socket.HttpResponseHeaders ?? new Dictionary<string, IEnumerable<string>>())
        {
            headers[name] = values.ToArray();
        }

        IReadOnlyList<string> extensions = headers.TryGetValue("Sec-WebSocket-Extensions", out var ext) ? ext : [];
        Extensions = extensions.Count > 0 ? string.Join(", ", extensions) : null;

        // ClientWebSocket accepts no extension but permessage-deflate, so any answer means it was negotiated:
        // the receiver then maps an inflater failure to Compression (WebSocketFailures.MapReceive).
        var deflateNegotiated = extensions.Any(e => e.Contains("permessage-deflate", StringComparison.OrdinalIgnoreCase));
        _receiver = new ClientWebSocketReceiver(socket, gate, maxMessageBytes, receiveBufferBytes, keepAliveTimeoutEnabled, payloads, time, deflateNegotiated);
        Handshake = new HandshakeResponse((int)socket.HttpStatusCode is var status and not 0 ? status : 101, SubProtocol, extensions, headers);

        // ClientWebSocket answers pings inside ReceiveAsync and surfaces neither pings nor pongs; TryReceive
        // takes what a finished socket read already holds (BatchReceive); with
        // a KeepAliveTimeout it fails the receive when its own probe goes unanswered.
        Capabilities = LeafCapabilities.AnswersPingsItself | LeafCapabilities.BatchReceive | (keepAliveTimeoutEnabled ? LeafCapabilities.KeepAliveProbe : LeafCapabilities.None);

        // The details are only needed once; dropping them frees the header dictionary early.
        socket.HttpResponseHeaders = null;
    }

    public ILeafSender Sender { get; }

    public ILeafReceiver Receiver => _receiver;

    public string? SubProtocol { get; }

    /// <summary>The extensions the server accepted (Sec-WebSocket-Extensions), for diagnostics and tests.</summary>
    public string? Extensions { get; }

    public HandshakeResponse Handshake { get; }

    public LeafCapabilities Capabilities { get; }

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

using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Samples.Tests.Simulator;

/// <summary>One message (or the close) as a raw ClientWebSocket sees it.</summary>
internal sealed record Received(WebSocketMessageType Type, byte[] Data, WebSocketCloseStatus? CloseStatus, string? CloseDescription)
{
    public bool IsClose => Type == WebSocketMessageType.Close;

    public JsonElement Json => JsonDocument.Parse(Data).RootElement;

    public string MessageType => Json.GetProperty("type").GetString()!;

    public override string ToString() => IsClose ? $"close {(int?)CloseStatus} {CloseDescription}" : Encoding.UTF8.GetString(Data);
}

/// <summary>
/// A raw System.Net.WebSockets client for the simulator tests: no transport library, so the
/// simulator is tested on its own. Every receive is bounded; nothing sleeps.
/// </summary>
internal sealed class SimClient : IAsyncDisposable
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly byte[] _chunk = new byte[64 * 1024];

    private SimClient(ClientWebSocket socket) => Socket = socket;

    public ClientWebSocket Socket { get; }

    public static async Task<SimClient> ConnectAsync(Uri uri, Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        configure?.Invoke(socket.Options);
        using var cts = new CancellationTokenSource(Bound);
        await socket.ConnectAsync(uri, cts.Token).ConfigureAwait(false);
        return new SimClient(socket);
    }

    public Task SendAsync(string json) =>
        Socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    public Task SubscribeAsync(long id, params string[] topics) =>
        SendAsync(JsonSerializer.Serialize(new { op = "subscribe", topics, id }));

    /// <summary>Reads one whole message (reassembling fragments) or the close frame.</summary>
    public async Task<Received> ReceiveAsync()
    {
        using var cts = new CancellationTokenSource(Bound);
        var message = new ArrayBufferWriter<byte>();
        while (true)
        {
            var result = await Socket.ReceiveAsync(_chunk.AsMemory(), cts.Token).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
                return new Received(result.MessageType, Array.Empty<byte>(), Socket.CloseStatus, Socket.CloseStatusDescription);
            message.Write(_chunk.AsSpan(0, result.Count));
            if (result.EndOfMessage) return new Received(result.MessageType, message.WrittenSpan.ToArray(), null, null);
        }
    }

    /// <summary>Reads until <paramref name="match"/> accepts a message; returns it. Bounded overall.</summary>
    public async Task<Received> ReceiveUntilAsync(Func<Received, bool> match, Action<Received>? onEach = null)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (DateTime.UtcNow < deadline)
        {
            var message = await ReceiveAsync().ConfigureAwait(false);
            onEach?.Invoke(message);
            if (match(message)) return message;
            if (message.IsClose) throw new InvalidOperationException($"closed while waiting: {message}");
        }
        throw new TimeoutException("condition not met within the bound");
    }

    /// <summary>Reads until the server's close frame arrives, skipping data.</summary>
    public Task<Received> ReceiveCloseAsync() => ReceiveUntilAsync(m => m.IsClose);

    public async ValueTask DisposeAsync()
    {
        if (Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var cts = new CancellationTokenSource(Bound);
            try
            {
                // After the server's close we only answer it; otherwise we start the close.
                if (Socket.State == WebSocketState.CloseReceived)
                    await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token).ConfigureAwait(false);
                else
                    await Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Test over; the socket may already be gone.
            }
        }
        Socket.Dispose();
    }
}

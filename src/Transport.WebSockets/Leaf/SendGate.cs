using System.Net.WebSockets;

namespace Transport.WebSockets;

/// <summary>
/// Serializes every write to one socket (the sender's messages and closes, and the receiver's
/// close echoes and 1007/1009 closes), because ClientWebSocket supports one send at a time.
/// </summary>
internal sealed class SendGate(ClientWebSocket socket)
{
    // Bounds a best-effort close the receiver sends on its own: a peer that stopped reading must
    // not hang the receive path. Real time is fine here: the leaf talks to a real socket.
    private static readonly TimeSpan BestEffortCloseTimeout = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim _gate = new(1, 1);

    public async ValueTask RunAsync(Func<ClientWebSocket, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await write(socket, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask RunAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType type, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await socket.SendAsync(payload, type, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Sends a close frame if the socket can still send one; never throws, never waits long.</summary>
    public async ValueTask CloseOutputQuietlyAsync(int code, string? reason)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        using var timeout = new CancellationTokenSource(BestEffortCloseTimeout);
        try
        {
            await RunAsync((s, ct) => s.CloseOutputAsync((WebSocketCloseStatus)code, reason, ct), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            // Best effort: the socket is being torn down anyway.
        }
    }
}

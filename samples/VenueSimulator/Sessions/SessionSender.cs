using System.Net.WebSockets;

namespace VenueSimulator.Sessions;

/// <summary>
/// The only writer of a session's socket. WebSocket allows one send at a time, and several
/// producers exist (tick loops, replies, heartbeats, close), so every send takes
/// <see cref="_lock"/>. Payloads are built inside the lock so a snapshot's seq and the ticks
/// around it are ordered exactly as numbered. A stall is awaited inside the lock too: while
/// stalled nothing at all leaves, and a message queued before the stall cannot slip out.
/// </summary>
internal sealed class SessionSender
{
    private readonly WebSocket _socket;
    private readonly StallGate _stall;
    private readonly SimulatorStats _stats;
    private readonly CancellationToken _sessionToken;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private bool _closeSent; // guarded by _lock

    public SessionSender(WebSocket socket, StallGate stall, SimulatorStats stats, CancellationToken sessionToken)
    {
        _socket = socket;
        _stall = stall;
        _stats = stats;
        _sessionToken = sessionToken;
    }

    /// <summary>
    /// Sends the message built by <paramref name="build"/>, unless <paramref name="gate"/> is
    /// cancelled before it goes out (then returns false and <paramref name="build"/> is not run).
    /// The gate only guards the wait: once writing, only the session token can cancel, because
    /// cancelling a WebSocket send aborts the whole socket.
    /// </summary>
    public async Task<bool> SendAsync(Func<ReadOnlyMemory<byte>> build, string? topic, CancellationToken gate)
    {
        try
        {
            await _lock.WaitAsync(gate).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (gate.IsCancellationRequested)
        {
            return false;
        }
        try
        {
            await _stall.WaitAsync(gate).ConfigureAwait(false);
            if (gate.IsCancellationRequested || _closeSent) return false;
            var payload = build();
            await _socket.SendAsync(payload, WebSocketMessageType.Text, endOfMessage: true, _sessionToken).ConfigureAwait(false);
            _stats.OnSent(topic);
            return true;
        }
        catch (OperationCanceledException) when (gate.IsCancellationRequested)
        {
            return false;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Sends our close frame once; later calls are no-ops. Returns true if this call sent it.</summary>
    public async Task<bool> CloseAsync(WebSocketCloseStatus status, string description)
    {
        await _lock.WaitAsync(_sessionToken).ConfigureAwait(false);
        try
        {
            if (_closeSent) return false;
            _closeSent = true;
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await _socket.CloseOutputAsync(status, description, _sessionToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _lock.Release();
        }
    }
}

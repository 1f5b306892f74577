using System.Buffers;
using System.Net.WebSockets;
using System.Text.Unicode;

namespace Transport.Benchmarks.Diagnostics;

/// <summary>
/// Diagnostic only: the change proposed for ClientWebSocketReceiver.ReceiveAsync, measured before
/// it is applied. (1) A non-async entry that returns synchronously when the socket hands over a whole
/// message at once (the common case for small messages under load): no state machine per message.
/// (2) The buffer's receiving/released handshake as one Interlocked state instead of two lock sections.
/// (3) Completion inlined (no nested async method). Same semantics otherwise (R1-R3).
/// </summary>
internal sealed class LeafFastPath(ClientWebSocket socket, int maxMessageBytes = 16 * 1024 * 1024, int baseBufferBytes = 16 * 1024)
{
    private const int Idle = 0;
    private const int Receiving = 1;
    private const int Released = 2;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(baseBufferBytes);
    private int _state;

    public ValueTask<Frame> ReceiveAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Receiving, Idle) != Idle)
        {
            throw new ObjectDisposedException(nameof(LeafFastPath));
        }

        var buffer = _buffer;
        ValueTask<ValueWebSocketReceiveResult> pending;
        try
        {
            pending = socket.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, (long)maxMessageBytes + 1)), cancellationToken);
        }
        catch
        {
            EndReceive();
            throw;
        }

        if (!pending.IsCompletedSuccessfully)
        {
            return ContinueAsync(pending, default, buffer, cancellationToken);
        }

        // Consumed here, so it is passed on as a result, never awaited a second time (a ValueTask
        // may be backed by a pooled source that must be consumed exactly once).
        var result = pending.Result;
        if (result.EndOfMessage && result.MessageType != WebSocketMessageType.Close && result.Count <= maxMessageBytes)
        {
            var payload = buffer.AsSpan(0, result.Count).ToArray();
            if (result.MessageType == WebSocketMessageType.Binary || Utf8.IsValid(payload))
            {
                EndReceive();
                return new ValueTask<Frame>(result.MessageType == WebSocketMessageType.Binary ? Frame.Binary(payload) : Frame.Text(payload));
            }
        }

        return ContinueAsync(default, result, buffer, cancellationToken);
    }

    // The rest of the original loop, entered either with the first receive still pending or with
    // its result (already consumed) when it was not a whole message.
    private async ValueTask<Frame> ContinueAsync(ValueTask<ValueWebSocketReceiveResult> pending, ValueWebSocketReceiveResult? first, byte[] buffer, CancellationToken cancellationToken)
    {
        var count = 0;
        try
        {
            while (true)
            {
                ValueWebSocketReceiveResult result;
                if (first is { } known)
                {
                    result = known;
                    first = null;
                }
                else
                {
                    result = await pending.ConfigureAwait(false);
                }

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException("closed");
                }

                count += result.Count;
                if (count > maxMessageBytes)
                {
                    throw new InvalidOperationException("too big");
                }

                if (result.EndOfMessage)
                {
                    var payload = buffer.AsSpan(0, count).ToArray();
                    if (result.MessageType == WebSocketMessageType.Binary)
                    {
                        return Frame.Binary(payload);
                    }

                    return Utf8.IsValid(payload) ? Frame.Text(payload) : throw new InvalidOperationException("utf8");
                }

                if (count == buffer.Length)
                {
                    var grown = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, count).CopyTo(grown);
                    ArrayPool<byte>.Shared.Return(buffer);
                    _buffer = buffer = grown;
                }

                var room = (int)Math.Min(buffer.Length - count, (long)maxMessageBytes + 1 - count);
                pending = socket.ReceiveAsync(buffer.AsMemory(count, room), cancellationToken);
            }
        }
        finally
        {
            EndReceive();
        }
    }

    private void EndReceive()
    {
        // Shrink while still Receiving (Release cannot return the buffer under us), then go Idle;
        // if Release ran meanwhile the CAS fails and this thread returns the buffer.
        if (_buffer.Length > (long)baseBufferBytes * 2)
        {
            var grown = _buffer;
            _buffer = ArrayPool<byte>.Shared.Rent(baseBufferBytes);
            ArrayPool<byte>.Shared.Return(grown);
        }

        if (Interlocked.CompareExchange(ref _state, Idle, Receiving) == Released)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }

    public void Release()
    {
        if (Interlocked.Exchange(ref _state, Released) == Idle)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }
}

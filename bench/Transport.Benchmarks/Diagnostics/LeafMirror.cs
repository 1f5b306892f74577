using System.Buffers;
using System.Net.WebSockets;
using System.Text.Unicode;

namespace Transport.Benchmarks.Diagnostics;

/// <summary>
/// Diagnostic only (not in the default runs): a copy of the receive path of
/// src/Transport.WebSockets/Leaf/ClientWebSocketReceiver.cs with its per-message costs switchable,
/// to attribute the leaf's gap to raw + owned byte[]. Select with BENCH_CLIENTS=Mirror...
/// If the leaf changes, this copy does not follow: it explains one measurement, it is not a product.
/// </summary>
internal sealed class LeafMirror(ClientWebSocket socket, bool locks, bool nestedAsync, int maxMessageBytes = 16 * 1024 * 1024, int baseBufferBytes = 16 * 1024)
{
    private readonly Lock _bufferLock = new();
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(baseBufferBytes);
    private bool _receiving;
    private bool _released;

    public async ValueTask<Frame> ReceiveAsync(CancellationToken cancellationToken)
    {
        byte[] buffer;
        if (locks)
        {
            lock (_bufferLock)
            {
                if (_released)
                {
                    throw new ObjectDisposedException(nameof(LeafMirror));
                }

                _receiving = true;
                buffer = _buffer;
            }
        }
        else
        {
            buffer = _buffer;
        }

        var count = 0;
        try
        {
            while (true)
            {
                var room = (int)Math.Min(buffer.Length - count, (long)maxMessageBytes + 1 - count);
                var result = await socket.ReceiveAsync(buffer.AsMemory(count, room), cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException("closed");
                }

                count += result.Count;
                if (result.EndOfMessage)
                {
                    var payload = buffer.AsSpan(0, count).ToArray();
                    if (nestedAsync)
                    {
                        return await CompleteMessageAsync(payload, result.MessageType).ConfigureAwait(false);
                    }

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
            }
        }
        finally
        {
            if (locks)
            {
                lock (_bufferLock)
                {
                    _receiving = false;
                    ShrinkIfGrown();
                }
            }
            else
            {
                ShrinkIfGrown();
            }
        }
    }

    private static async ValueTask<Frame> CompleteMessageAsync(byte[] payload, WebSocketMessageType type)
    {
        if (type == WebSocketMessageType.Binary)
        {
            return Frame.Binary(payload);
        }

        if (!Utf8.IsValid(payload))
        {
            await Task.Yield();
            throw new InvalidOperationException("utf8");
        }

        return Frame.Text(payload);
    }

    private void ShrinkIfGrown()
    {
        if (_buffer.Length > (long)baseBufferBytes * 2)
        {
            var grown = _buffer;
            _buffer = ArrayPool<byte>.Shared.Rent(baseBufferBytes);
            ArrayPool<byte>.Shared.Return(grown);
        }
    }

    public void Release()
    {
        lock (_bufferLock)
        {
            _released = true;
            if (!_receiving)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }
        }
    }
}

using System.Buffers.Binary;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Transport.Testing;

/// <summary>
/// The server side of a hand-upgraded WebSocket: writes arbitrary frames (any opcode, FIN, RSV
/// bits, payload, even a length header that lies) and reads the client's frames, unmasking them.
/// For hostile-server tests: invalid UTF-8, malformed closes, ping floods, oversized headers,
/// a server that never answers pings.
/// </summary>
public sealed class RawWebSocketWriter : IAsyncDisposable
{
    /// <summary>Continuation opcode.</summary>
    public const int OpContinuation = 0x0;

    /// <summary>Text opcode.</summary>
    public const int OpText = 0x1;

    /// <summary>Binary opcode.</summary>
    public const int OpBinary = 0x2;

    /// <summary>Close opcode.</summary>
    public const int OpClose = 0x8;

    /// <summary>Ping opcode.</summary>
    public const int OpPing = 0x9;

    /// <summary>Pong opcode.</summary>
    public const int OpPong = 0xA;

    private const int WriteChunkBytes = 16 * 1024;

    private readonly Stream _stream;
    private readonly HttpContext _context;

    internal RawWebSocketWriter(Stream stream, HttpContext context)
    {
        _stream = stream;
        _context = context;
    }

    /// <summary>Writes one frame exactly as described (server frames are unmasked).</summary>
    /// <param name="opcode">Any 4-bit opcode, reserved ones included.</param>
    /// <param name="fin">The FIN bit.</param>
    /// <param name="payload">The payload bytes actually written.</param>
    /// <param name="declaredLength">The length written in the header; null: the true length. A larger value makes an "oversized" header.</param>
    /// <param name="rsv">The RSV1-3 bits (0-7), normally 0.</param>
    /// <returns>Completes when flushed.</returns>
    public async Task WriteFrameAsync(int opcode, bool fin, ReadOnlyMemory<byte> payload, long? declaredLength = null, int rsv = 0)
    {
        var length = declaredLength ?? payload.Length;
        var header = new byte[10];
        header[0] = (byte)((fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (opcode & 0xF));
        int headerLength;
        if (length < 126)
        {
            header[1] = (byte)length;
            headerLength = 2;
        }
        else if (length <= ushort.MaxValue)
        {
            header[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)length);
            headerLength = 4;
        }
        else
        {
            header[1] = 127;
            BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(2), length);
            headerLength = 10;
        }

        await _stream.WriteAsync(header.AsMemory(0, headerLength)).ConfigureAwait(false);

        // In chunks, flushing each: Kestrel copies a single large write into its pipe whole before
        // backpressure applies, which would allocate the entire payload server-side.
        for (var offset = 0; offset < payload.Length; offset += WriteChunkBytes)
        {
            await _stream.WriteAsync(payload.Slice(offset, Math.Min(WriteChunkBytes, payload.Length - offset))).ConfigureAwait(false);
            await _stream.FlushAsync().ConfigureAwait(false);
        }

        await _stream.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Writes a text frame over raw bytes (which need not be valid UTF-8).</summary>
    /// <param name="utf8">The bytes.</param>
    /// <param name="fin">The FIN bit.</param>
    /// <returns>Completes when flushed.</returns>
    public Task WriteTextAsync(byte[] utf8, bool fin = true) => WriteFrameAsync(OpText, fin, utf8);

    /// <summary>Writes a binary frame.</summary>
    /// <param name="payload">The bytes.</param>
    /// <param name="fin">The FIN bit.</param>
    /// <returns>Completes when flushed.</returns>
    public Task WriteBinaryAsync(byte[] payload, bool fin = true) => WriteFrameAsync(OpBinary, fin, payload);

    /// <summary>Writes a ping.</summary>
    /// <param name="payload">Up to 125 bytes (more makes a protocol violation).</param>
    /// <returns>Completes when flushed.</returns>
    public Task WritePingAsync(byte[]? payload = null) => WriteFrameAsync(OpPing, true, payload ?? []);

    /// <summary>Writes a well-formed close frame.</summary>
    /// <param name="code">The close code.</param>
    /// <param name="reason">The reason.</param>
    /// <returns>Completes when flushed.</returns>
    public Task WriteCloseAsync(int code, string? reason = null)
    {
        var reasonBytes = Encoding.UTF8.GetBytes(reason ?? string.Empty);
        var payload = new byte[2 + reasonBytes.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        reasonBytes.CopyTo(payload, 2);
        return WriteFrameAsync(OpClose, true, payload);
    }

    /// <summary>Writes bytes straight to the stream (no framing at all).</summary>
    /// <param name="bytes">The bytes.</param>
    /// <returns>Completes when flushed.</returns>
    public async Task WriteRawAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes).ConfigureAwait(false);
        await _stream.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Reads the client's next frame (unmasked).</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The frame, or null when the client closed the TCP stream.</returns>
    public async Task<RawFrame?> ReadFrameAsync(CancellationToken cancellationToken = default)
    {
        var head = new byte[2];
        if (!await ReadExactlyOrEndAsync(head, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var fin = (head[0] & 0x80) != 0;
        var opcode = head[0] & 0x0F;
        var masked = (head[1] & 0x80) != 0;
        long length = head[1] & 0x7F;
        if (length == 126)
        {
            var ext = new byte[2];
            await _stream.ReadExactlyAsync(ext, cancellationToken).ConfigureAwait(false);
            length = BinaryPrimitives.ReadUInt16BigEndian(ext);
        }
        else if (length == 127)
        {
            var ext = new byte[8];
            await _stream.ReadExactlyAsync(ext, cancellationToken).ConfigureAwait(false);
            length = BinaryPrimitives.ReadInt64BigEndian(ext);
        }

        var mask = new byte[4];
        if (masked)
        {
            await _stream.ReadExactlyAsync(mask, cancellationToken).ConfigureAwait(false);
        }

        var payload = new byte[checked((int)length)];
        await _stream.ReadExactlyAsync(payload, cancellationToken).ConfigureAwait(false);
        if (masked)
        {
            for (var i = 0; i < payload.Length; i++)
            {
                payload[i] ^= mask[i & 3];
            }
        }

        return new RawFrame(opcode, fin, payload, (head[0] >> 4) & 0x7);
    }

    /// <summary>Reads client frames until a close frame (skipping pings/pongs/data).</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The client's close code, or null if the stream ended without one.</returns>
    public async Task<int?> ReadUntilCloseAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            while (await ReadFrameAsync(cancellationToken).ConfigureAwait(false) is { } frame)
            {
                if (frame.Opcode == OpClose)
                {
                    return frame.CloseCode;
                }
            }
        }
        catch (IOException)
        {
            // Reset by the client.
        }

        return null;
    }

    /// <summary>Aborts the TCP connection.</summary>
    public void Abort() => _context.Abort();

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await _stream.DisposeAsync().ConfigureAwait(false);

    private async Task<bool> ReadExactlyOrEndAsync(byte[] buffer, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await _stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return true;
    }
}

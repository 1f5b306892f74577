using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

namespace Transport.WebSockets.Pipelines;

/// <summary>
/// The send half of the Pipelines leaf: writes whole messages as single masked frames, pongs,
/// keep-alive pings and the close frame, one write at a time.
/// </summary>
/// <remarks>
/// <para>
/// Invariants:
/// PipeLeaf.W1: every frame is masked with a fresh key from a cryptographic source (RFC 6455 5.3);
///     keys are drawn 64 at a time, under the write lock.
/// Also (design rule, no dedicated test yet): writes are serialized (one lock for the sender's messages, the receiver's close
///     echoes and violation closes, and keep-alive pings); nothing but a close is written after our close.
/// Also (design rule, no dedicated test yet): a large payload is written and flushed in 64 KiB chunks, so the pipe never buffers a
///     whole multi-MB message a second time.
/// </para>
/// PipeLeaf.W2: once the connection is closed because it failed (a violation found by the reader, the
///     peer's close), every later send fails with that same kind of error, never a generic Connection
///     one: the stack's pong lane, still answering pings, must not misclassify the connection's end.
/// PipeLeaf.W3: a write cancelled or failed after its frame started leaves that frame cut short on the
///     wire; nothing may follow it (a close frame would be read as the rest of its payload), so the
///     writer aborts the socket and refuses every later write, the close included. The peer sees the
///     connection drop (1006), never a close frame inside a data frame.
/// PipeLeaf.W4: a Text frame whose payload is not valid UTF-8 is refused (ArgumentException) before a
///     byte is written (RFC 6455 5.6: the peer would have to close 1007).
/// <para>Ping and pong payloads longer than 125 bytes are refused (ArgumentException): the caller's bug, not the socket's.</para>
/// </remarks>
internal sealed class FrameWriter : ILeafSender, IDisposable
{
    private const int ChunkBytes = 64 * 1024;
    private static readonly TimeSpan BestEffortCloseTimeout = TimeSpan.FromSeconds(1);

    private readonly PipeWriter _output;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly MessageDeflater? _deflater;
    private readonly TimeProvider _time;
    private readonly Action<string> _abort;
    private readonly byte[] _keys = new byte[256]; // guarded by _lock
    private int _keyOffset = 256; // guarded by _lock
    private volatile bool _closeSent;
    private volatile TransportException? _closedFor; // why the connection is being closed, when a failure closes it (PipeLeaf.W2)
    private volatile bool _torn; // a frame was cut short: nothing more may be written (PipeLeaf.W3)

    /// <param name="output">Where frames go (the socket's stream, or a Pipe in tests).</param>
    /// <param name="deflater">Compresses data messages when permessage-deflate was agreed.</param>
    /// <param name="time">The clock bounding best-effort closes.</param>
    /// <param name="abort">Tears the connection down (the reason says why): a close could not be sent within its bound, or a frame was cut short.</param>
    public FrameWriter(PipeWriter output, MessageDeflater? deflater, TimeProvider time, Action<string> abort)
    {
        _output = output;
        _deflater = deflater;
        _time = time;
        _abort = abort;
    }

    /// <summary>True once our close frame was written (or attempted).</summary>
    public bool CloseSent => _closeSent;

    public async ValueTask SendAsync(Frame frame, CancellationToken cancellationToken)
    {
        switch (frame.Kind)
        {
            case FrameKind.Close:
                await CloseAsync(frame.CloseCode, frame.CloseReason, cancellationToken).ConfigureAwait(false);
                return;
            case FrameKind.Ping or FrameKind.Pong when frame.Length > 125:
                throw new ArgumentException($"A {frame.Kind} payload is at most 125 bytes (this one is {frame.Length}).", nameof(frame));
            case FrameKind.Text when !Utf8.IsValid(frame.Payload.Span):
                throw new ArgumentException(FrameValidation.InvalidUtf8Message(frame.Payload.Span), nameof(frame)); // PipeLeaf.W4
        }

        var opcode = frame.Kind switch
        {
            FrameKind.Text => 0x1,
            FrameKind.Binary => 0x2,
            FrameKind.Ping => 0x9,
            _ => 0xA,
        };

        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_closedFor is not null)
            {
                throw AfterClose();
            }

            if (_torn)
            {
                throw Torn();
            }

            if (_closeSent)
            {
                throw TransportException.Connection("The send failed: our close frame was already sent.");
            }

            var payload = frame.Payload;
            var compressed = false;
            if (_deflater is not null && frame.IsData && payload.Length > 0)
            {
                payload = _deflater.Compress(payload.Span);
                compressed = true;
            }

            await WriteFrameAsync(opcode, compressed, payload, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (_closedFor is not null && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            throw AfterClose(); // PipeLeaf.W2: the socket went because of that failure
        }
        catch (Exception ex) when (ex is not TransportException and not OperationCanceledException)
        {
            throw WebSocketFailures.MapSend(ex);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask CloseAsync(int code, string? reason, CancellationToken cancellationToken)
    {
        try
        {
            await WriteCloseAsync(code, reason, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The caller's bound ran out: give up on the close handshake and tear the socket down.
            _abort("The socket was aborted: a close could not be sent in time.");
        }
        catch (Exception ex) when (ex is not TransportException and not OperationCanceledException)
        {
            throw WebSocketFailures.MapSend(ex);
        }
    }

    /// <summary>Sends a close frame if none was sent yet; never throws, never waits longer than a second.</summary>
    /// <param name="code">The close code.</param>
    /// <param name="reason">The close reason, or null.</param>
    /// <param name="cause">The failure the connection closes for; later sends fail with its kind (PipeLeaf.W2).</param>
    public async ValueTask CloseQuietlyAsync(int code, string? reason, TransportException? cause = null)
    {
        if (cause is not null)
        {
            _closedFor ??= cause;
        }

        if (_closeSent)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(BestEffortCloseTimeout, _time);
        try
        {
            await WriteCloseAsync(code, reason, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException or TransportException)
        {
            // Best effort: the socket is being torn down anyway.
        }
    }

    /// <summary>Sends a ping (keep-alive); never throws.</summary>
    public async ValueTask PingQuietlyAsync(ReadOnlyMemory<byte> payload)
    {
        try
        {
            await SendAsync(Frame.Ping(payload), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException or TransportException)
        {
            // The receive side reports the socket's failure.
        }
    }

    public void Dispose() => _deflater?.Dispose();

    private static TransportException Torn() =>
        TransportException.Connection("The send failed: an earlier write was cut short in the middle of its frame, so the socket was aborted (PipeLeaf.W3).");

    private TransportException AfterClose()
    {
        var cause = _closedFor!;
        return new TransportException(cause.Kind, $"The send failed: the connection was closed ({cause.Message})", cause.HttpStatus, cause.CloseCode, inner: cause);
    }

    private async ValueTask WriteCloseAsync(int code, string? reason, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_closeSent || _torn)
            {
                return; // PipeLeaf.W3: after a cut-short frame a close frame would be payload; the socket is already aborted
            }

            _closeSent = true;
            var payload = new byte[2 + Math.Min(Encoding.UTF8.GetMaxByteCount(reason?.Length ?? 0), 123)];
            BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
            var reasonBytes = TruncateUtf8(reason, payload.AsSpan(2));
            await WriteFrameAsync(0x8, false, payload.AsMemory(0, 2 + reasonBytes), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    // At most 123 bytes (a control frame's payload is at most 125), cut on a character boundary.
    private static int TruncateUtf8(string? reason, Span<byte> destination)
    {
        if (string.IsNullOrEmpty(reason))
        {
            return 0;
        }

        var encoder = Encoding.UTF8.GetEncoder();
        encoder.Convert(reason, destination, flush: true, out _, out var written, out _);
        return written;
    }

    // Called under _lock. PipeLeaf.W3: a frame that does not complete tears the connection.
    private async ValueTask WriteFrameAsync(int opcode, bool compressed, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var completed = false;
        try
        {
            await WriteFrameCoreAsync(opcode, compressed, payload, cancellationToken).ConfigureAwait(false);
            completed = true;
        }
        finally
        {
            if (!completed)
            {
                _torn = true;
                _abort("The socket was aborted: a write was cut short in the middle of its frame.");
            }
        }
    }

    private async ValueTask WriteFrameCoreAsync(int opcode, bool compressed, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var key = NextKey();
        var header = _output.GetSpan(14);
        header[0] = (byte)(0x80 | (compressed ? 0x40 : 0) | opcode);
        int headerLength;
        if (payload.Length < 126)
        {
            header[1] = (byte)(0x80 | payload.Length);
            headerLength = 2;
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            header[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)payload.Length);
            headerLength = 4;
        }
        else
        {
            header[1] = 0x80 | 127;
            BinaryPrimitives.WriteUInt64BigEndian(header[2..], (ulong)payload.Length);
            headerLength = 10;
        }

        BinaryPrimitives.WriteInt32LittleEndian(header[headerLength..], key);
        _output.Advance(headerLength + 4);

        // Chunked: mask straight into the pipe's memory, flushing every chunk.
        var offset = 0;
        while (offset < payload.Length)
        {
            var span = _output.GetSpan(Math.Min(payload.Length - offset, ChunkBytes));
            var n = Math.Min(Math.Min(span.Length, payload.Length - offset), ChunkBytes);
            Masking.Apply(payload.Span.Slice(offset, n), span, key, offset);
            _output.Advance(n);
            offset += n;
            if (offset < payload.Length)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        var result = await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCanceled || result.IsCompleted)
        {
            throw TransportException.Connection("The send failed: the connection is gone.");
        }
    }

    // PipeLeaf.W1: called under _lock.
    private int NextKey()
    {
        if (_keyOffset == _keys.Length)
        {
            RandomNumberGenerator.Fill(_keys);
            _keyOffset = 0;
        }

        var key = BinaryPrimitives.ReadInt32LittleEndian(_keys.AsSpan(_keyOffset));
        _keyOffset += 4;
        return key;
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using System.Text.Unicode;
using Transport.WebSockets.Buffering;

namespace Transport.WebSockets.Pipelines;

/// <summary>
/// The receive half of the Pipelines leaf: an RFC 6455 client parser over a <see cref="PipeReader"/>.
/// Each socket read is parsed for every whole frame it holds; <see cref="TryReceive"/> hands the rest
/// of a read to the stack without another await.
/// </summary>
/// <remarks>
/// <para>
/// Invariants (tests: PipeLeafParserTests, PipeLeafFuzzTests, the leaf contract suite):
/// PipeLeaf.R1: a data message is returned whole (fragments reassembled), copied exactly once through
///     the connection's PayloadAllocator: an exact-size array the frame owns, or in lease mode a pooled
///     lease the consumer returns (ADR 0009); a single-frame message is copied straight from the read buffer.
/// PipeLeaf.R2: nothing is allocated for a message beyond MaxMessageBytes: an uncompressed frame whose
///     declared length would pass the limit is refused at its header; a compressed message is inflated
///     into the reassembly buffer up to the limit and one probe byte past it. Either way the socket
///     is closed with 1009 and the receive fails with MessageTooBig.
/// PipeLeaf.R3: text is validated incrementally (each fragment as it arrives, a character split
///     across fragments waits for its continuation); invalid UTF-8 closes with 1007 (Protocol).
/// PipeLeaf.R4: every protocol violation (reserved bits or opcodes, a masked server frame, a control
///     frame over 125 bytes or fragmented, a continuation with no message or a new message inside
///     one, a bad close payload or code, invalid deflate data) closes with the RFC's code (1002,
///     or 1007 for bad data) and fails with Protocol; the receiver then stays failed.
/// PipeLeaf.R5: pings and pongs are surfaced (the stack answers pings through its pong lane), also
///     between the fragments of a message, which they do not disturb.
/// PipeLeaf.R6: the peer's close is returned once as Frame.Close and echoed (unless we closed first);
///     every later receive throws ClosedByPeer. End of stream without a close is Connection/1006.
/// PipeLeaf.R7: every frame returned is stamped with the connection clock's timestamp when it was completed:
///     the time the socket read that brought its last byte returned (one clock read per socket read, not
///     per frame; on this project's KVM machine a clock read costs about 0.2 µs, more than parsing a frame).
/// PipeLeaf.R8: a frame's 64-bit length is judged before it is narrowed: a control frame declaring more
///     than 125 bytes (2^32 + 3 included) closes 1002, and no length is ever cast to int before it is
///     known to fit (control frames at most 125, data frames at most MaxMessageBytes).
/// </para>
/// <para>One receive at a time (the stack's receive loop); <see cref="Release"/> may race it.</para>
/// </remarks>
internal sealed class FrameReader : ILeafReceiver
{
    private static readonly TimeSpan PeerCloseWait = TimeSpan.FromSeconds(1);

    private const int Idle = 0;
    private const int Receiving = 1;
    private const int Released = 2;

    private readonly PipeReader _input;
    private readonly FrameWriter _writer;
    private readonly int _maxMessageBytes;
    private readonly TimeProvider _time;
    private readonly MessageInflater? _inflater;
    private readonly Action<ReadOnlySequence<byte>>? _onPong;
    private readonly Action? _onClosed;
    private readonly ReassemblyBuffer _message;
    private readonly PayloadAllocator _payloads;
    private readonly byte[] _probe = new byte[1];
    private int _state;

    // The read held between calls (AdvanceTo not yet called): what is left of it is _buffer.
    private ReadOnlySequence<byte> _buffer;
    private bool _holding;
    private bool _inputCompleted;
    private long _readAt; // the clock when the held read returned (PipeLeaf.R7)

    // The frame being read (its header consumed, _payloadRemaining bytes of it still to come).
    private bool _inPayload;
    private long _payloadRemaining;
    private bool _frameFin;

    // The message being reassembled: 0 none, 1 text, 2 binary.
    private int _messageOpcode;
    private bool _compressed;
    private long _compressedBytes; // of the message so far
    private Utf8Validator _utf8;

    private Frame? _peerClose;
    private TransportException? _violation; // found by the parser; the close is sent by ReceiveAsync
    private TransportException? _terminal;
    private volatile TransportException? _abortedWith;

    public FrameReader(PipeReader input, FrameWriter writer, int maxMessageBytes, int receiveBufferBytes, TimeProvider time, MessageInflater? inflater, Action<ReadOnlySequence<byte>>? onPong, Action? onClosed = null, PayloadAllocator? payloads = null)
    {
        _payloads = payloads ?? PayloadAllocator.Owned;
        _onClosed = onClosed;
        _input = input;
        _writer = writer;
        _maxMessageBytes = maxMessageBytes;
        _time = time;
        _inflater = inflater;
        _onPong = onPong;
        _message = new ReassemblyBuffer(receiveBufferBytes, maxMessageBytes);
    }

    /// <summary>The most bytes the reassembly buffer ever held (Reassembly.B1; for tests and diagnostics).</summary>
    internal long ReassemblyPeakBytes => _message.PeakHeldBytes;

    private enum Parsed
    {
        Frame,
        NeedMore,
        Stop, // a peer close or a violation: ReceiveAsync handles it
    }

    public bool TryReceive(out Frame frame)
    {
        frame = default;
        if (!_holding || _terminal is not null || _violation is not null || _peerClose is not null || _abortedWith is not null)
        {
            return false;
        }

        if (Interlocked.CompareExchange(ref _state, Receiving, Idle) != Idle)
        {
            return false;
        }

        try
        {
            return Parse(out frame) == Parsed.Frame;
        }
        finally
        {
            EndReceive();
        }
    }

    public async ValueTask<Frame> ReceiveAsync(CancellationToken cancellationToken)
    {
        if (_terminal is not null)
        {
            throw _terminal;
        }

        if (Interlocked.CompareExchange(ref _state, Receiving, Idle) != Idle)
        {
            throw TransportException.Connection("The connection was disposed.");
        }

        try
        {
            while (true)
            {
                if (_holding && _violation is null && _peerClose is null && Parse(out var frame) == Parsed.Frame)
                {
                    return frame;
                }

                if (_peerClose is { } close)
                {
                    return await OnPeerCloseAsync(close).ConfigureAwait(false);
                }

                if (_violation is { } violation)
                {
                    await _writer.CloseQuietlyAsync(violation.CloseCode ?? CloseCodes.ProtocolError, null, violation).ConfigureAwait(false);
                    await DrainQuietlyAsync().ConfigureAwait(false);
                    _onClosed?.Invoke();
                    throw Fail(violation);
                }

                if (_inputCompleted)
                {
                    throw Fail(new TransportException(TransportErrorKind.Connection, "The connection closed without a close frame.", closeCode: CloseCodes.Abnormal));
                }

                ReleaseHeldRead();
                var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    throw Fail(_abortedWith ?? new TransportException(TransportErrorKind.Connection, "The socket was aborted during a receive.", closeCode: CloseCodes.Abnormal));
                }

                _readAt = _time.GetTimestamp();
                _buffer = result.Buffer;
                _holding = true;
                _inputCompleted = result.IsCompleted;
            }
        }
        catch (Exception ex) when (ex is not TransportException && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            throw Fail(_abortedWith ?? new TransportException(TransportErrorKind.Connection, $"The receive failed ({WebSocketFailures.Describe(ex)}).", closeCode: CloseCodes.Abnormal, inner: ex));
        }
        finally
        {
            EndReceive();
        }
    }

    /// <summary>Fails the pending (or next) receive with <paramref name="error"/> (keep-alive timeout, dispose).</summary>
    public void Abort(TransportException error)
    {
        _abortedWith ??= error;
        _input.CancelPendingRead();
    }

    /// <summary>Returns the pooled buffers; called once, when the connection is disposed.</summary>
    public void Release()
    {
        Abort(TransportException.Connection("The connection was disposed."));
        if (Interlocked.Exchange(ref _state, Released) == Idle)
        {
            ReleaseResources();
        }
    }

    private void EndReceive()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Receiving) == Released)
        {
            ReleaseResources();
        }
    }

    private void ReleaseResources()
    {
        _message.Release();
        _inflater?.Dispose();
        try
        {
            _holding = false;
            _input.Complete();
        }
        catch (InvalidOperationException)
        {
            // A read was still pending on another thread; the stream's disposal ends it.
        }
    }

    private void ReleaseHeldRead()
    {
        if (_holding)
        {
            // Everything left is an incomplete frame: examined to the end, so the next read waits for more.
            _input.AdvanceTo(_buffer.Start, _buffer.End);
            _holding = false;
        }
    }

    private async ValueTask<Frame> OnPeerCloseAsync(Frame close)
    {
        _terminal = TransportException.ClosedByPeer(close.CloseCode, close.CloseReason);
        if (!_writer.CloseSent)
        {
            // PipeLeaf.R6: complete the close handshake (1005 is never sent on the wire).
            await _writer.CloseQuietlyAsync(close.CloseCode == CloseCodes.NoStatus ? CloseCodes.NormalClosure : close.CloseCode, null, _terminal).ConfigureAwait(false);
        }

        // Both closes are out: the handshake is complete, so the TCP connection goes too (a server
        // such as the npm ws package waits for it before it considers the connection closed). First
        // give the server up to a second to close its side (RFC 6455 7.1.1: the server closes the TCP
        // connection first): closing at once could reset the connection before the server read our
        // close frame (the catalogue saw the echo lost in about 1 of 100 closes over loopback).
        var receivedAt = _time.GetTimestamp();
        await DrainQuietlyAsync().ConfigureAwait(false);
        _onClosed?.Invoke();
        return close.WithReceivedAt(receivedAt);
    }

    // After we closed for a violation, give the peer a moment to read our close before the socket
    // is torn down (a reset can destroy our close frame before the peer reads its code). Whatever
    // arrives meanwhile is discarded: the connection has already failed.
    private async ValueTask DrainQuietlyAsync()
    {
        using var bound = new CancellationTokenSource(PeerCloseWait, _time);
        try
        {
            while (!_inputCompleted && _abortedWith is null)
            {
                if (_holding)
                {
                    _input.AdvanceTo(_buffer.End);
                    _holding = false;
                }

                var result = await _input.ReadAsync(bound.Token).ConfigureAwait(false);
                _buffer = result.Buffer;
                _holding = true;
                _inputCompleted = result.IsCompleted || result.IsCanceled;
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The peer did not close in time, or the socket failed: tear down as planned.
        }
    }

    private TransportException Fail(TransportException error)
    {
        _terminal ??= error;
        return _terminal;
    }

    private Parsed Violate(string what, int closeCode = CloseCodes.ProtocolError)
    {
        _violation = TransportException.Protocol($"The server broke the WebSocket protocol ({what}); the connection was closed with {closeCode}.", closeCode);
        return Parsed.Stop;
    }

    private Parsed TooBig()
    {
        _violation = TransportException.MessageTooBig(_maxMessageBytes);
        return Parsed.Stop;
    }

    private Parsed Parse(out Frame frame)
    {
        frame = default;
        try
        {
            var parsed = ParseCore(out frame);
            if (parsed == Parsed.Frame)
            {
                frame = frame.WithReceivedAt(_readAt); // PipeLeaf.R7
            }

            return parsed;
        }
        catch (InvalidDataException)
        {
            return Violate("invalid permessage-deflate data", CloseCodes.InvalidPayload);
        }
        catch (DeflateLayoutException layout)
        {
            return Violate(layout.Message, CloseCodes.UnsupportedData);
        }
    }

    private Parsed ParseCore(out Frame frame)
    {
        frame = default;
        while (true)
        {
            if (!_inPayload)
            {
                var header = ReadHeader(out var headerLength, out var fin, out var rsv, out var opcode, out var length);
                if (header != Parsed.Frame)
                {
                    return header;
                }

                if (opcode >= 0x8)
                {
                    // PipeLeaf.R8: judged on the 64-bit length, before any narrowing (2^32 + 3 is not 3).
                    if (length > 125)
                    {
                        return Violate($"a control frame declaring {length} bytes (at most 125)");
                    }

                    return ParseControl(headerLength, fin, rsv, opcode, (int)length, out frame);
                }

                if (opcode > 0x2)
                {
                    return Violate($"reserved opcode 0x{opcode:X}");
                }

                var rsv1 = (rsv & 0x4) != 0;
                if ((rsv & 0x3) != 0 || (rsv1 && (_inflater is null || opcode == 0)))
                {
                    return Violate("reserved bits set");
                }

                if (opcode == 0)
                {
                    if (_messageOpcode == 0)
                    {
                        return Violate("a continuation frame with no message to continue");
                    }
                }
                else
                {
                    if (_messageOpcode != 0)
                    {
                        return Violate("a new message before the previous one was finished");
                    }

                    _messageOpcode = opcode;
                    _compressed = rsv1;
                    _compressedBytes = 0;
                    _message.Reset();
                    _utf8.Reset();
                }

                // PipeLeaf.R2: refused at the header, before a byte of it is buffered.
                if (!_compressed && _message.Length + length > _maxMessageBytes)
                {
                    return TooBig();
                }

                // PipeLeaf.R1 fast path: a whole single-frame message already in this read is copied once.
                if (fin && opcode != 0 && !_compressed && _buffer.Length - headerLength >= length)
                {
                    var payload = _buffer.Slice(headerLength, length);
                    _messageOpcode = 0;
                    if (opcode == 0x1 && !IsValidUtf8(payload))
                    {
                        return Violate("a text message that is not valid UTF-8", CloseCodes.InvalidPayload);
                    }

                    // Validated first: a rejected message is never allocated (nor leased).
                    frame = _payloads.Create(opcode == 0x1 ? FrameKind.Text : FrameKind.Binary, payload);
                    _buffer = _buffer.Slice(headerLength + length);
                    return Parsed.Frame;
                }

                _buffer = _buffer.Slice(headerLength);
                _inPayload = true;
                _payloadRemaining = length;
                _frameFin = fin;
            }

            if (_payloadRemaining > 0)
            {
                if (_buffer.IsEmpty)
                {
                    return Parsed.NeedMore;
                }

                var n = Math.Min(_buffer.Length, _payloadRemaining);
                var chunk = _buffer.Slice(0, n);
                _buffer = _buffer.Slice(n);
                _payloadRemaining -= n;
                var appended = _compressed ? Inflate(chunk) : Append(chunk);
                if (appended != Parsed.Frame)
                {
                    return appended;
                }

                if (_payloadRemaining > 0)
                {
                    return Parsed.NeedMore;
                }
            }

            _inPayload = false;
            if (!_frameFin)
            {
                continue;
            }

            // An empty compressed payload is an empty message: RFC 7692 7.2.3.6 sends 0x00 for one, and its
            // 4-byte tail alone would open a stored block that swallows the next message.
            if (_compressed && _compressedBytes > 0)
            {
                _inflater!.FeedTrailer();
                var tail = Drain();
                if (tail != Parsed.Frame)
                {
                    return tail;
                }

                _inflater.EndMessage();
            }

            var opcodeDone = _messageOpcode;
            _messageOpcode = 0;
            if (opcodeDone == 0x1 && !_utf8.AtBoundary)
            {
                return Violate("a text message that ends inside a UTF-8 character", CloseCodes.InvalidPayload);
            }

            var kind = opcodeDone == 0x1 ? FrameKind.Text : FrameKind.Binary;
            frame = _message.IsSingleSegment ? _payloads.Create(kind, _message.FirstSpan) : _payloads.Create(kind, _message.AsSequence());
            _message.Reset();
            return Parsed.Frame;
        }
    }

    private Parsed ReadHeader(out int headerLength, out bool fin, out int rsv, out int opcode, out long length)
    {
        headerLength = 2;
        fin = false;
        rsv = opcode = 0;
        length = 0;
        if (_buffer.Length < 2)
        {
            return Parsed.NeedMore;
        }

        Span<byte> header = stackalloc byte[10];
        var available = (int)Math.Min(10, _buffer.Length);
        _buffer.Slice(0, available).CopyTo(header);
        fin = (header[0] & 0x80) != 0;
        rsv = (header[0] >> 4) & 0x7;
        opcode = header[0] & 0xF;
        if ((header[1] & 0x80) != 0)
        {
            return Violate("a masked frame from the server");
        }

        length = header[1] & 0x7F;
        if (length == 126)
        {
            if (available < 4)
            {
                return Parsed.NeedMore;
            }

            length = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
            headerLength = 4;
        }
        else if (length == 127)
        {
            if (available < 10)
            {
                return Parsed.NeedMore;
            }

            var wide = BinaryPrimitives.ReadUInt64BigEndian(header[2..]);
            if (wide > long.MaxValue)
            {
                return Violate("a 64-bit length with its most significant bit set");
            }

            length = (long)wide;
            headerLength = 10;
        }

        return Parsed.Frame;
    }

    private Parsed ParseControl(int headerLength, bool fin, int rsv, int opcode, int length, out Frame frame)
    {
        frame = default;
        if (opcode > 0xA)
        {
            return Violate($"reserved control opcode 0x{opcode:X}");
        }

        if (!fin)
        {
            return Violate("a fragmented control frame");
        }

        if (rsv != 0)
        {
            return Violate("reserved bits set on a control frame");
        }

        if (opcode == 0x8 && length == 1)
        {
            return Violate("a close frame with a 1-byte payload"); // known from the header: no need to wait for the byte
        }

        if (_buffer.Length - headerLength < length)
        {
            return Parsed.NeedMore;
        }

        var payload = _buffer.Slice(headerLength, length);
        _buffer = _buffer.Slice(headerLength + length);
        switch (opcode)
        {
            case 0x9:
                frame = Frame.Ping(payload.ToArray());
                return Parsed.Frame;
            case 0xA:
                _onPong?.Invoke(payload);
                frame = Frame.Pong(payload.ToArray());
                return Parsed.Frame;
            default:
                return ParseClose(payload);
        }
    }

    private Parsed ParseClose(ReadOnlySequence<byte> payload)
    {
        if (payload.Length == 0)
        {
            _peerClose = Frame.Close(CloseCodes.NoStatus);
            return Parsed.Stop;
        }

        if (payload.Length == 1)
        {
            return Violate("a close frame with a 1-byte payload");
        }

        Span<byte> bytes = stackalloc byte[125];
        payload.CopyTo(bytes);
        bytes = bytes[..(int)payload.Length];
        var code = BinaryPrimitives.ReadUInt16BigEndian(bytes);
        if (!IsValidCloseCode(code))
        {
            return Violate($"close code {code} is not allowed on the wire");
        }

        var reason = bytes[2..];
        if (!Utf8.IsValid(reason))
        {
            return Violate("a close reason that is not valid UTF-8", CloseCodes.InvalidPayload);
        }

        _peerClose = Frame.Close(code, reason.IsEmpty ? null : Encoding.UTF8.GetString(reason));
        return Parsed.Stop;
    }

    // A message straddling two segments of the read is validated from a pooled copy (no garbage).
    private static bool IsValidUtf8(in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            return Utf8.IsValid(payload.FirstSpan);
        }

        var length = (int)payload.Length;
        var copy = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            payload.CopyTo(copy);
            return Utf8.IsValid(copy.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    // RFC 6455 7.4: 1000-1003 and 1007-1014 are defined for the wire, 3000-4999 are registered/private.
    internal static bool IsValidCloseCode(int code) =>
        code is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999);

    private Parsed Append(ReadOnlySequence<byte> chunk)
    {
        // The header check guarantees the message stays within the limit (R2).
        foreach (var piece in chunk)
        {
            if (_messageOpcode == 0x1 && !_utf8.Append(piece.Span))
            {
                return Violate("a text message that is not valid UTF-8", CloseCodes.InvalidPayload);
            }

            _message.Append(piece.Span);
        }

        return Parsed.Frame;
    }

    private Parsed Inflate(ReadOnlySequence<byte> chunk)
    {
        _compressedBytes += chunk.Length;
        _inflater!.Feed(chunk);
        return Drain();
    }

    // Reads the inflater dry into the message, up to the limit; one probe byte beyond it means too big (R2).
    private Parsed Drain()
    {
        while (true)
        {
            if (_message.AtLimit)
            {
                return _inflater!.Read(_probe) > 0 ? TooBig() : Parsed.Frame;
            }

            var free = _message.GetFree();
            var n = _inflater!.Read(free);
            if (n == 0)
            {
                return Parsed.Frame;
            }

            if (_messageOpcode == 0x1 && !_utf8.Append(free[..n]))
            {
                return Violate("a text message that is not valid UTF-8", CloseCodes.InvalidPayload);
            }

            _message.Advance(n);
        }
    }
}

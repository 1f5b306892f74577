using System.Buffers;
using System.Net.WebSockets;
using System.Text.Unicode;
using Transport.WebSockets.Buffering;

namespace Transport.WebSockets;

/// <summary>
/// The receive half: reassembles fragments into whole messages and enforces the size limit and
/// UTF-8 validity before anything reaches the stack.
/// </summary>
/// <remarks>
/// <para>
/// Invariants:
/// Receiver.R1: fragments are reassembled in a reused pooled buffer; each message is copied once, through
///     the PayloadAllocator: into an exact-size array the returned frame owns (the default), or into
///     a pooled lease the consumer releases (lease mode, docs/adr/0009).
/// Receiver.R2: a message is never truncated and the reassembly buffer never grows past MaxMessageBytes + 1
///     (the byte that detects overflow; Reassembly.B1): growth goes through the pool only while the
///     pool's power-of-two size fits, the last step is an exact-size array (the pool would round
///     1 MiB + 1 up to 2 MiB: 64 MiB in all to reject one 20 MB message under the 16 MiB default).
///     As soon as the running size exceeds the limit the socket is closed with 1009 and the
///     receive fails with MessageTooBig.
/// Also (no dedicated test yet): every returned frame is stamped with the connection clock's timestamp (Frame.ReceivedAt).
/// Receiver.R3: a text message that is not valid UTF-8 closes the socket with 1007 and fails with Protocol.
/// Receiver.R4: the peer's close is returned once as Frame.Close (and echoed); later calls throw ClosedByPeer.
/// Receiver.R5: ClientWebSocket answers pings inside ReceiveAsync and never surfaces ping or pong frames,
///     so this receiver never yields them: the stack must simply keep receiving.
/// Receiver.R6: TryReceive (batch hand-off, docs/adr/0009) returns a message only when ClientWebSocket
///     completes the read synchronously with a whole valid data message; anything else (a pending
///     read, a fragment, a close, a failure) is kept, unconsumed by the caller, and continued by
///     the next ReceiveAsync exactly as if that call had started it. It never throws.
/// Receiver.R7: with permessage-deflate negotiated, a message ClientWebSocket cannot inflate (it aborts
///     the socket) fails the receive with Compression, not a Transient 1006 Connection error, so the
///     stack can reconnect without deflate (WebSocketFailures.MapReceive; docs/adr/0019).
/// </para>
/// <para>One receive at a time (the stack's receive loop); not thread-safe beyond that.</para>
/// </remarks>
internal sealed class ClientWebSocketReceiver : ILeafReceiver
{
    // How long to wait for the peer's close after we closed for a violation (see AwaitPeerCloseQuietlyAsync).
    private static readonly TimeSpan PeerCloseWait = TimeSpan.FromSeconds(1);

    private readonly ClientWebSocket _socket;
    private readonly SendGate _gate;
    private readonly int _maxMessageBytes;
    private readonly int _baseBufferBytes;
    private readonly bool _keepAliveTimeoutEnabled;
    private readonly bool _deflateNegotiated;
    private readonly PayloadAllocator _payloads;
    // _state: Idle, Receiving or Released. Release and the receive in flight hand the pooled buffer
    // over with one Interlocked exchange each, not a lock per message (docs/benchmarks.md, finding 1).
    private const int Idle = 0;
    private const int Receiving = 1;
    private const int Released = 2;
    private int _state;
    private byte[] _buffer; // only the one receive in flight resizes it, while _state is Receiving
    private TransportException? _terminal;

    // Receiver.R6: what TryReceive started but could not finish, for the next ReceiveAsync (only while
    // _state is Receiving). Either a read still pending or one already completed and read.
    private bool _carried;
    private ValueTask<ValueWebSocketReceiveResult> _carriedPending;
    private ValueWebSocketReceiveResult? _carriedResult;

    // The token of the latest ReceiveAsync: the stack's receive loop uses one per session, and a
    // read TryReceive starts must stay cancellable by it.
    private CancellationToken _receiveToken;

    private readonly TimeProvider _time;

    public ClientWebSocketReceiver(ClientWebSocket socket, SendGate gate, int maxMessageBytes, int receiveBufferBytes, bool keepAliveTimeoutEnabled, PayloadAllocator? payloads = null, TimeProvider? time = null, bool deflateNegotiated = false)
    {
        _deflateNegotiated = deflateNegotiated;
        _time = time ?? TimeProvider.System;
        _payloads = payloads ?? PayloadAllocator.Owned;
        _socket = socket;
        _gate = gate;
        _maxMessageBytes = maxMessageBytes;

        // No point in a base buffer bigger than the largest message allowed (plus the byte that detects overflow).
        _baseBufferBytes = (int)Math.Min(receiveBufferBytes, (long)maxMessageBytes + 1);
        _keepAliveTimeoutEnabled = keepAliveTimeoutEnabled;
        _buffer = ArrayPool<byte>.Shared.Rent(_baseBufferBytes);
    }

    public ValueTask<Frame> ReceiveAsync(CancellationToken cancellationToken)
    {
        _receiveToken = cancellationToken;
        if (_carried)
        {
            // Receiver.R6: continue what TryReceive started (the buffer is still ours: _state is Receiving).
            _carried = false;
            var carriedPending = _carriedPending;
            var carriedResult = _carriedResult;
            _carriedPending = default;
            _carriedResult = null;
            return ContinueAsync(carriedPending, carriedResult, _buffer, cancellationToken);
        }

        if (_terminal is not null)
        {
            return ValueTask.FromException<Frame>(_terminal);
        }

        if (Interlocked.CompareExchange(ref _state, Receiving, Idle) != Idle)
        {
            return ValueTask.FromException<Frame>(TransportException.Connection("The connection was disposed."));
        }

        var buffer = _buffer;
        ValueTask<ValueWebSocketReceiveResult> pending;
        try
        {
            pending = _socket.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, (long)_maxMessageBytes + 1)), cancellationToken);
        }
        catch (Exception ex)
        {
            // Mapped (and the buffer handed back) on the slow path, like any receive failure.
            return ContinueAsync(ValueTask.FromException<ValueWebSocketReceiveResult>(ex), null, buffer, cancellationToken);
        }

        if (!pending.IsCompletedSuccessfully)
        {
            return ContinueAsync(pending, null, buffer, cancellationToken);
        }

        // Fast path (measured: docs/benchmarks.md, finding 1): under load the socket usually hands
        // over a whole small message at once, so no state machine, no lock, no nested await. The
        // result is consumed here and passed on, never awaited twice (a ValueTask may be backed by
        // a pooled source that must be consumed exactly once).
        var result = pending.Result;
        if (result.EndOfMessage && result.MessageType != WebSocketMessageType.Close && result.Count <= _maxMessageBytes)
        {
            // Validated in the reassembly buffer, before the one copy: a rejected message is never allocated.
            var payload = buffer.AsSpan(0, result.Count);
            if (result.MessageType == WebSocketMessageType.Binary)
            {
                var frame = _payloads.Create(FrameKind.Binary, payload).WithReceivedAt(_time.GetTimestamp());
                EndReceive();
                return new ValueTask<Frame>(frame);
            }

            if (Utf8.IsValid(payload))
            {
                var frame = _payloads.Create(FrameKind.Text, payload).WithReceivedAt(_time.GetTimestamp());
                EndReceive();
                return new ValueTask<Frame>(frame);
            }
        }

        return ContinueAsync(default, result, buffer, cancellationToken);
    }

    /// <summary>
    /// Takes the next message if ClientWebSocket already holds it whole (Receiver.R6): the stack's receive
    /// loop drains these into one batch after each awaited <see cref="ReceiveAsync"/>.
    /// </summary>
    public bool TryReceive(out Frame frame)
    {
        frame = default;
        if (_carried || _terminal is not null || Interlocked.CompareExchange(ref _state, Receiving, Idle) != Idle)
        {
            return false;
        }

        var buffer = _buffer;
        ValueTask<ValueWebSocketReceiveResult> pending;
        try
        {
            pending = _socket.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, (long)_maxMessageBytes + 1)), _receiveToken);
        }
        catch (Exception ex)
        {
            // Never thrown from here: the next ReceiveAsync maps it like any receive failure.
            Carry(ValueTask.FromException<ValueWebSocketReceiveResult>(ex), null);
            return false;
        }

        if (!pending.IsCompletedSuccessfully)
        {
            Carry(pending, null);
            return false;
        }

        // Consumed here and, when not a whole valid message, handed on as a result: never awaited twice.
        var result = pending.Result;
        if (result.EndOfMessage && result.MessageType != WebSocketMessageType.Close && result.Count <= _maxMessageBytes)
        {
            var payload = buffer.AsSpan(0, result.Count);
            if (result.MessageType == WebSocketMessageType.Binary || Utf8.IsValid(payload))
            {
                frame = _payloads.Create(result.MessageType == WebSocketMessageType.Binary ? FrameKind.Binary : FrameKind.Text, payload);
                EndReceive();
                return true;
            }
        }

        Carry(default, result);
        return false;
    }

    private void Carry(ValueTask<ValueWebSocketReceiveResult> pending, ValueWebSocketReceiveResult? result)
    {
        _carriedPending = pending;
        _carriedResult = result;
        _carried = true;
    }

    // The general loop: fragments, limits, closes and failures. Entered with the first receive still
    // pending, or with its already-consumed result when it was not a whole valid message.
    private async ValueTask<Frame> ContinueAsync(
        ValueTask<ValueWebSocketReceiveResult> pending,
        ValueWebSocketReceiveResult? first,
        byte[] buffer,
        CancellationToken cancellationToken)
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
                    return await OnPeerCloseAsync().ConfigureAwait(false);
                }

                count += result.Count;
                if (count > _maxMessageBytes)
                {
                    await _gate.CloseOutputQuietlyAsync(CloseCodes.MessageTooBig, "message too big").ConfigureAwait(false);
                    await AwaitPeerCloseQuietlyAsync().ConfigureAwait(false);
                    throw Fail(TransportException.MessageTooBig(_maxMessageBytes));
                }

                if (result.EndOfMessage)
                {
                    return (await CompleteMessageAsync(buffer, count, result.MessageType).ConfigureAwait(false)).WithReceivedAt(_time.GetTimestamp());
                }

                if (count == buffer.Length)
                {
                    buffer = Grow(buffer, count);
                }

                // Read at most one byte beyond the limit: enough to know it was exceeded, never more (Receiver.R2).
                var room = (int)Math.Min(buffer.Length - count, (long)_maxMessageBytes + 1 - count);
                pending = _socket.ReceiveAsync(buffer.AsMemory(count, room), cancellationToken);
            }
        }
        catch (Exception ex) when (ex is not TransportException)
        {
            var mapped = WebSocketFailures.MapReceive(ex, cancellationToken, _keepAliveTimeoutEnabled, _deflateNegotiated);
            if (mapped is TransportException { Kind: TransportErrorKind.Protocol or TransportErrorKind.MessageTooBig })
            {
                // The platform closed for a protocol violation it detected itself: same courtesy wait.
                await AwaitPeerCloseQuietlyAsync().ConfigureAwait(false);
            }

            throw mapped is TransportException error ? Fail(error) : mapped;
        }
        finally
        {
            EndReceive();
        }
    }

    /// <summary>Returns the pooled buffer; called once, when the connection is disposed.</summary>
    public void Release()
    {
        // A receive still in flight may have the buffer under a pending socket read: it returns
        // the buffer itself when it ends (EndReceive), so the pool never hands out memory still being written.
        if (Interlocked.Exchange(ref _state, Released) == Idle)
        {
            ReturnBuffer(_buffer);
        }
    }

    // Shrink while still Receiving (Release cannot return the buffer under us), then go Idle; if
    // Release ran meanwhile, the exchange fails and this thread returns the buffer.
    private void EndReceive()
    {
        ShrinkIfGrown();
        if (Interlocked.CompareExchange(ref _state, Idle, Receiving) == Released)
        {
            ReturnBuffer(_buffer);
        }
    }

    private async ValueTask<Frame> CompleteMessageAsync(byte[] buffer, int count, WebSocketMessageType type)
    {
        if (type == WebSocketMessageType.Binary)
        {
            return _payloads.Create(FrameKind.Binary, buffer.AsSpan(0, count));
        }

        // ClientWebSocket validates UTF-8 too; checking here keeps the contract independent of that (Receiver.R3).
        if (!Utf8.IsValid(buffer.AsSpan(0, count)))
        {
            await _gate.CloseOutputQuietlyAsync(CloseCodes.InvalidPayload, "invalid UTF-8").ConfigureAwait(false);
            await AwaitPeerCloseQuietlyAsync().ConfigureAwait(false);
            throw Fail(TransportException.Protocol("A text message was not valid UTF-8; the connection was closed with 1007.", CloseCodes.InvalidPayload));
        }

        return _payloads.Create(FrameKind.Text, buffer.AsSpan(0, count));
    }

    private async ValueTask<Frame> OnPeerCloseAsync()
    {
        var code = (int?)_socket.CloseStatus ?? CloseCodes.NoStatus;
        var reason = string.IsNullOrEmpty(_socket.CloseStatusDescription) ? null : _socket.CloseStatusDescription;

        // Complete the close handshake: echo the peer's code (1005 is never sent on the wire).
        await _gate.CloseOutputQuietlyAsync(code == CloseCodes.NoStatus ? CloseCodes.NormalClosure : code, null).ConfigureAwait(false);
        _terminal = TransportException.ClosedByPeer(code, reason);
        return Frame.Close(code, reason).WithReceivedAt(_time.GetTimestamp());
    }

    // After we closed for a violation, give the peer a moment to read our close and answer before
    // the socket is torn down: disposing with unread bytes sends a TCP reset, which can destroy our
    // close frame before the peer reads its code. What arrives meanwhile is discarded: the
    // connection is already failed. Real time is fine here: the leaf talks to a real socket.
    private async ValueTask AwaitPeerCloseQuietlyAsync()
    {
        if (_socket.State != WebSocketState.CloseSent)
        {
            return;
        }

        var scratch = ArrayPool<byte>.Shared.Rent(16 * 1024);
        using var timeout = new CancellationTokenSource(PeerCloseWait);
        try
        {
            while ((await _socket.ReceiveAsync(scratch.AsMemory(), timeout.Token).ConfigureAwait(false)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            // The peer did not answer in time, or the socket failed: tear down as planned.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private TransportException Fail(TransportException error)
    {
        _terminal = error;
        return error;
    }

    private byte[] Grow(byte[] buffer, int count)
    {
        var target = (int)Math.Min(Math.Max((long)buffer.Length * 2, 1), (long)_maxMessageBytes + 1);

        // Receiver.R2: the pool hands out power-of-two lengths; past the limit, allocate the exact size instead.
        var grown = System.Numerics.BitOperations.RoundUpToPowerOf2((uint)target) <= (long)_maxMessageBytes + 1
            ? ArrayPool<byte>.Shared.Rent(target)
            : GC.AllocateUninitializedArray<byte>(target);
        buffer.AsSpan(0, count).CopyTo(grown);
        ReturnBuffer(buffer);
        _buffer = grown;
        return grown;
    }

    private void ShrinkIfGrown()
    {
        // A multi-MB snapshot must not pin a multi-MB buffer for the rest of the connection.
        if (_buffer.Length > (long)_baseBufferBytes * 2)
        {
            var grown = _buffer;
            _buffer = ArrayPool<byte>.Shared.Rent(_baseBufferBytes);
            ReturnBuffer(grown);
        }
    }

    // Pool arrays have power-of-two lengths (16 or more); an exact-size last step (R2) is left to the GC.
    private static void ReturnBuffer(byte[] buffer)
    {
        if (buffer.Length >= 16 && System.Numerics.BitOperations.IsPow2(buffer.Length))
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

using System.Buffers;
using System.Net.WebSockets;
using System.Text.Unicode;

namespace Transport.WebSockets;

/// <summary>
/// The receive half: reassembles fragments into whole messages and enforces the size limit and
/// UTF-8 validity before anything reaches the stack.
/// </summary>
/// <remarks>
/// <para>
/// Invariants:
/// R1: fragments are reassembled in a reused pooled buffer; each message is copied once into an
///     exact-size array that the returned frame owns (nothing is pooled behind the consumer's back).
/// R2: a message is never truncated and the reassembly buffer never grows past MaxMessageBytes
///     (Reassembly.B1): once it holds the limit, one more read into a 16-byte probe tells whether
///     the message goes on; if it does, the socket is closed with 1009 and the receive fails with
///     MessageTooBig. Rejecting a 20 MB message under a 1 MiB limit allocates about 2 MiB
///     (the doubling steps), not 64 MiB (LeafAllocationTests).
/// R6: every returned frame is stamped with the connection clock's timestamp (Frame.ReceivedAt).
/// R3: a text message that is not valid UTF-8 closes the socket with 1007 and fails with Protocol.
/// R4: the peer's close is returned once as Frame.Close (and echoed); later calls throw ClosedByPeer.
/// R5: ClientWebSocket answers pings inside ReceiveAsync and never surfaces ping or pong frames,
///     so this receiver never yields them: the stack must simply keep receiving.
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
    private readonly bool _keepAliveTimeoutEnabled;
    private readonly TimeProvider _time;
    private readonly byte[] _probe = new byte[16];
    // _state: Idle, Receiving or Released. Release and the receive in flight hand the pooled buffer
    // over with one Interlocked exchange each, not a lock per message (docs/benchmarks.md, finding 1).
    private const int Idle = 0;
    private const int Receiving = 1;
    private const int Released = 2;
    private int _state;
    private readonly ReassemblyBuffer _message; // only the one receive in flight resizes it, while _state is Receiving
    private TransportException? _terminal;

    public ClientWebSocketReceiver(ClientWebSocket socket, SendGate gate, int maxMessageBytes, int receiveBufferBytes, bool keepAliveTimeoutEnabled, TimeProvider time)
    {
        _socket = socket;
        _gate = gate;
        _maxMessageBytes = maxMessageBytes;
        _keepAliveTimeoutEnabled = keepAliveTimeoutEnabled;
        _time = time;

        // No point in a base buffer bigger than the largest message allowed.
        _message = new ReassemblyBuffer(receiveBufferBytes, maxMessageBytes);
    }

    public ValueTask<Frame> ReceiveAsync(CancellationToken cancellationToken)
    {
        if (_terminal is not null)
        {
            return ValueTask.FromException<Frame>(_terminal);
        }

        if (Interlocked.CompareExchange(ref _state, Receiving, Idle) != Idle)
        {
            return ValueTask.FromException<Frame>(TransportException.Connection("The connection was disposed."));
        }

        var buffer = _message.Array;
        ValueTask<ValueWebSocketReceiveResult> pending;
        try
        {
            pending = _socket.ReceiveAsync(buffer.AsMemory(0, Math.Min(buffer.Length, _maxMessageBytes)), cancellationToken);
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
            var payload = buffer.AsSpan(0, result.Count).ToArray();
            if (result.MessageType == WebSocketMessageType.Binary)
            {
                EndReceive();
                return new ValueTask<Frame>(Frame.Binary(payload).WithReceivedAt(_time.GetTimestamp()));
            }

            if (Utf8.IsValid(payload))
            {
                EndReceive();
                return new ValueTask<Frame>(Frame.Text(payload).WithReceivedAt(_time.GetTimestamp()));
            }
        }

        return ContinueAsync(default, result, buffer, cancellationToken);
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
        var probing = false;
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

                if (probing ? result.Count > 0 : (count += result.Count) > _maxMessageBytes)
                {
                    await _gate.CloseOutputQuietlyAsync(CloseCodes.MessageTooBig, "message too big").ConfigureAwait(false);
                    await AwaitPeerCloseQuietlyAsync().ConfigureAwait(false);
                    throw Fail(TransportException.MessageTooBig(_maxMessageBytes));
                }

                if (result.EndOfMessage)
                {
                    return (await CompleteMessageAsync(buffer.AsSpan(0, count).ToArray(), result.MessageType).ConfigureAwait(false)).WithReceivedAt(_time.GetTimestamp());
                }

                if (count == _maxMessageBytes)
                {
                    // R2: the buffer is full at the limit; a probe read says whether the message goes on.
                    probing = true;
                    pending = _socket.ReceiveAsync(_probe.AsMemory(), cancellationToken);
                    continue;
                }

                if (count == buffer.Length)
                {
                    _message.Length = count;
                    _message.EnsureRoom(buffer.Length);
                    buffer = _message.Array;
                }

                var room = Math.Min(buffer.Length - count, _maxMessageBytes - count);
                pending = _socket.ReceiveAsync(buffer.AsMemory(count, room), cancellationToken);
            }
        }
        catch (Exception ex) when (ex is not TransportException)
        {
            var mapped = WebSocketFailures.MapReceive(ex, cancellationToken, _keepAliveTimeoutEnabled);
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
            _message.Release();
        }
    }

    // Shrink while still Receiving (Release cannot return the buffer under us), then go Idle; if
    // Release ran meanwhile, the exchange fails and this thread returns the buffer.
    private void EndReceive()
    {
        _message.Reset();
        if (Interlocked.CompareExchange(ref _state, Idle, Receiving) == Released)
        {
            _message.Release();
        }
    }

    private async ValueTask<Frame> CompleteMessageAsync(byte[] payload, WebSocketMessageType type)
    {
        if (type == WebSocketMessageType.Binary)
        {
            return Frame.Binary(payload);
        }

        // ClientWebSocket validates UTF-8 too; checking here keeps the contract independent of that (R3).
        if (!Utf8.IsValid(payload))
        {
            await _gate.CloseOutputQuietlyAsync(CloseCodes.InvalidPayload, "invalid UTF-8").ConfigureAwait(false);
            await AwaitPeerCloseQuietlyAsync().ConfigureAwait(false);
            throw Fail(TransportException.Protocol("A text message was not valid UTF-8; the connection was closed with 1007.", CloseCodes.InvalidPayload));
        }

        return Frame.Text(payload);
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
}

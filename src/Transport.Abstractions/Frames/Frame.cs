using System.Runtime.InteropServices;
using System.Text;

namespace Transport;

/// <summary>
/// One whole WebSocket message (fragments already reassembled), or a control frame.
/// </summary>
/// <remarks>
/// <para>
/// Buffer ownership: a frame produced by the transport owns its payload. The receive path
/// copies each message into an exact-size array the consumer may keep for as long as it
/// likes; nothing is returned to a pool behind its back (see docs/adr/0004-frame-buffers.md
/// for the measurements behind this choice).
/// </para>
/// <para>
/// Lease mode (opt-in, <c>TransportOptionsBuilder.WithLeasedPayloads</c>): received frames are
/// over pooled buffers (<see cref="IsLeased"/>). Each leased frame you read is one hold on its buffer,
/// and it is yours: from any source (<c>TryRead</c>, <c>TryReadBatch</c>, <c>ReadBatchAsync</c>,
/// <c>await foreach</c>), a fan-out subscriber or a pool's merged source. Call <see cref="Release"/>
/// exactly once, after the last read of the payload (or of any memory taken from it), and copy what you
/// keep. The stack releases every frame it drops (a queue's evictions, frames no fan-out subscriber
/// takes), and every fan-out subscriber holds a share of its own, so your release never frees a buffer
/// another reader still reads; the buffer goes back to the pool when its last holder released it.
/// A filter (fan-out, initializer wait) only borrows the frame for the call: never release or keep it.
/// A second <see cref="Release"/> throws; in Debug builds a read after <see cref="Release"/> throws too.
/// A forgotten <see cref="Release"/> only costs the pooling (the GC reclaims the buffer). Owned frames
/// (the default) ignore <see cref="Release"/>. See docs/adr/0009-batch-hand-off-lease-mode-waiter.md and
/// docs/adr/0013-lease-ownership.md.
/// </para>
/// <para>
/// A frame handed to the sink is read by the transport until the send completes; the caller
/// must not mutate its payload (nor release a leased one) before then.
/// </para>
/// <para><see cref="ToString"/> never prints the payload: it may carry credentials.</para>
/// </remarks>
public readonly struct Frame : IEquatable<Frame>
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // The payload. For a leased frame, memory over a PayloadLease (Lease.L1 to Lease.L3).
    private readonly ReadOnlyMemory<byte> _payload;

    // A close frame's status code; a leased data frame's lease token (its use's generation and this
    // frame's holder bit, Lease.L1 and Lease.L9); else 0. One field for both keeps owned frames exactly
    // as large as before lease mode existed.
    private readonly int _code;

    private Frame(FrameKind kind, ReadOnlyMemory<byte> payload, int closeCode, string? closeReason)
    {
        Kind = kind;
        _payload = payload;
        _code = closeCode;
        CloseReason = closeReason;
        Epoch = -1;
        ReceivedAt = 0;
    }

    private Frame(in Frame frame, long epoch, long receivedAt)
        : this(frame, frame._payload, frame._code, epoch, receivedAt)
    {
    }

    private Frame(in Frame frame, ReadOnlyMemory<byte> payload, int code, long epoch, long receivedAt)
    {
        Kind = frame.Kind;
        _payload = payload;
        _code = code;
        CloseReason = frame.CloseReason;
        Epoch = epoch;
        ReceivedAt = receivedAt;
    }

    /// <summary>What kind of message this is.</summary>
    public FrameKind Kind { get; }

    /// <summary>The message bytes (UTF-8 for <see cref="FrameKind.Text"/>). Empty for a close frame.</summary>
    /// <remarks>For a leased frame, valid only until <see cref="Release"/> (checked in Debug builds).</remarks>
    public ReadOnlyMemory<byte> Payload
    {
        get
        {
#if DEBUG
            if (TryGetLease(out PayloadLease? lease))
            {
                lease.AssertLive(_code);
            }
#endif
            return _payload;
        }
    }

    /// <summary>The close status code for a <see cref="FrameKind.Close"/> frame; 0 otherwise.</summary>
    public int CloseCode => Kind == FrameKind.Close ? _code : 0;

    /// <summary>
    /// True when the payload is a pooled buffer lent to the consumer (lease mode): call
    /// <see cref="Release"/> once done with it. False for owned frames, the default.
    /// </summary>
    public bool IsLeased => TryGetLease(out _);

    /// <summary>The close reason for a <see cref="FrameKind.Close"/> frame, if the peer gave one.</summary>
    public string? CloseReason { get; }

    /// <summary>
    /// The epoch (session number) of the socket this frame arrived on, as published in the lifecycle
    /// snapshot; -1 for a frame the transport did not receive (one built by the caller).
    /// </summary>
    /// <remarks>
    /// Lets an adapter tell frames of an old socket still in the receive ring from frames of the new
    /// one, without racing the lifecycle.
    /// </remarks>
    public long Epoch { get; }

    /// <summary>
    /// When the leaf completed this message, as a <see cref="TimeProvider.GetTimestamp"/> value of the
    /// connection's clock (0 when unknown). Measure queueing delay with
    /// <c>timeProvider.GetElapsedTime(frame.ReceivedAt)</c>.
    /// </summary>
    public long ReceivedAt { get; }

    /// <summary>The payload length in bytes.</summary>
    public int Length => _payload.Length;

    /// <summary>True for <see cref="FrameKind.Text"/> and <see cref="FrameKind.Binary"/>: the frames the adapter sees.</summary>
    public bool IsData => Kind <= FrameKind.Binary;

    /// <summary>True for ping, pong and close: the frames the stack consumes itself.</summary>
    public bool IsControl => Kind >= FrameKind.Ping;

    /// <summary>
    /// Gives up this frame's hold on a leased payload (lease mode): the pooled buffer goes back to its
    /// pool once every holder of it has released (docs/adr/0013). Does nothing for an owned frame. Call
    /// it exactly once per leased frame you own, after the last read of its payload.
    /// </summary>
    /// <exception cref="InvalidOperationException">This leased frame (or a copy of it) was already released.</exception>
    public void Release()
    {
        if (TryGetLease(out PayloadLease? lease))
        {
            lease.Return(_code);
        }
    }

    /// <summary>A data frame over a leased payload (lease mode; the stack's leaves create these).</summary>
    /// <param name="kind">Text or Binary.</param>
    /// <param name="lease">A lease just rented, its bytes written.</param>
    /// <returns>The frame, the lease's first holder.</returns>
    internal static Frame Leased(FrameKind kind, PayloadLease lease)
    {
        System.Diagnostics.Debug.Assert(kind is FrameKind.Text or FrameKind.Binary);
        return new Frame(kind, lease.Memory, lease.Token, null);
    }

    /// <summary>
    /// For a second owner (the fan-out's subscribers, ADR 0013 rule 3): the same frame with a hold of
    /// its own on the same leased payload, released independently of this one (Lease.L9); past
    /// <see cref="PayloadLease.MaxHolders"/> holders, a copy in a lease of its own from the same pool.
    /// An owned frame is returned as it is. This frame keeps its own hold.
    /// </summary>
    /// <returns>A frame the caller owns (and must hand on or release).</returns>
    /// <exception cref="InvalidOperationException">This leased frame was already released.</exception>
    internal Frame ShareLease()
    {
        if (!TryGetLease(out PayloadLease? lease))
        {
            return this;
        }

        int token = lease.AddHolder(_code);
        if (token >= 0)
        {
            return new Frame(this, _payload, token, Epoch, ReceivedAt);
        }

        // Every holder bit of this use is given: copy (rare: more than 32 owners of one message).
        ReadOnlySpan<byte> bytes = _payload.Span;
        PayloadLease copy = lease.Pool.Rent(bytes.Length);
        bytes.CopyTo(copy.Writable);
        return new Frame(this, copy.Memory, copy.Token, Epoch, ReceivedAt);
    }

    /// <summary>True while this frame's hold on its leased payload is not released; false for an owned frame. For tests.</summary>
    internal bool HoldsLease => TryGetLease(out PayloadLease? lease) && lease.IsHeldBy(_code);

    private bool TryGetLease([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PayloadLease? lease)
    {
        // Only data frames are ever leased; the type test is all an owned frame pays.
        if (!IsData)
        {
            lease = null;
            return false;
        }

        return MemoryMarshal.TryGetMemoryManager(_payload, out lease);
    }

    /// <summary>The same frame stamped with the receive time the leaf observed (no allocation).</summary>
    /// <param name="receivedAt">A <see cref="TimeProvider.GetTimestamp"/> value.</param>
    /// <returns>A copy carrying <paramref name="receivedAt"/>.</returns>
    public Frame WithReceivedAt(long receivedAt) => new(this, Epoch, receivedAt);

    /// <summary>The same frame stamped with the epoch of the socket it arrived on (no allocation).</summary>
    /// <param name="epoch">The session's epoch.</param>
    /// <returns>A copy carrying <paramref name="epoch"/>.</returns>
    public Frame WithEpoch(long epoch) => new(this, epoch, ReceivedAt);

    /// <summary>A text frame from a string (encoded once, as UTF-8).</summary>
    /// <param name="text">The message text.</param>
    public static Frame Text(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new Frame(FrameKind.Text, Encoding.UTF8.GetBytes(text), 0, null);
    }

    /// <summary>
    /// A text frame over bytes the caller asserts are UTF-8. Every sink and leaf checks them before the
    /// frame is queued or written: a payload that is not valid UTF-8 is refused at the call
    /// (<c>TrySend</c> returns <c>Invalid</c>, <c>SendAsync</c> throws <see cref="ArgumentException"/>) and never reaches the wire.
    /// </summary>
    /// <param name="utf8">The UTF-8 payload.</param>
    public static Frame Text(ReadOnlyMemory<byte> utf8) => new(FrameKind.Text, utf8, 0, null);

    /// <summary>A binary frame.</summary>
    /// <param name="payload">The payload.</param>
    public static Frame Binary(ReadOnlyMemory<byte> payload) => new(FrameKind.Binary, payload, 0, null);

    /// <summary>A protocol ping frame.</summary>
    /// <param name="payload">Application data echoed by the pong (at most 125 bytes on the wire).</param>
    public static Frame Ping(ReadOnlyMemory<byte> payload = default) => new(FrameKind.Ping, payload, 0, null);

    /// <summary>A protocol pong frame.</summary>
    /// <param name="payload">The payload of the ping being answered.</param>
    public static Frame Pong(ReadOnlyMemory<byte> payload = default) => new(FrameKind.Pong, payload, 0, null);

    /// <summary>A close frame.</summary>
    /// <param name="code">The close status code (for example <see cref="CloseCodes.NormalClosure"/>).</param>
    /// <param name="reason">An optional reason.</param>
    public static Frame Close(int code, string? reason = null) => new(FrameKind.Close, ReadOnlyMemory<byte>.Empty, code, reason);

    /// <summary>Decodes a text frame's payload.</summary>
    /// <returns>The text.</returns>
    /// <exception cref="InvalidOperationException">The frame is not a text frame.</exception>
    /// <exception cref="DecoderFallbackException">The payload is not valid UTF-8 (the receive path rejects such frames before they get here).</exception>
    public string GetText()
    {
        if (Kind != FrameKind.Text)
        {
            throw new InvalidOperationException($"GetText() needs a Text frame; this one is {Kind}.");
        }

        return StrictUtf8.GetString(Payload.Span);
    }

    /// <inheritdoc />
    /// <remarks>Content equality: kind, payload bytes and close code/reason; <see cref="Epoch"/> and <see cref="ReceivedAt"/> are receipt metadata and do not take part.</remarks>
    public bool Equals(Frame other) =>
        Kind == other.Kind && CloseCode == other.CloseCode && CloseReason == other.CloseReason &&
        _payload.Span.SequenceEqual(other._payload.Span);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Frame other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Kind, _payload.Length, CloseCode);

    /// <summary>Value equality.</summary>
    /// <param name="left">A frame.</param>
    /// <param name="right">Another frame.</param>
    public static bool operator ==(Frame left, Frame right) => left.Equals(right);

    /// <summary>Value inequality.</summary>
    /// <param name="left">A frame.</param>
    /// <param name="right">Another frame.</param>
    public static bool operator !=(Frame left, Frame right) => !left.Equals(right);

    /// <summary>Describes the frame without its payload (payloads may carry credentials).</summary>
    public override string ToString() =>
        Kind == FrameKind.Close ? $"Close({CloseCode})" : $"{Kind}({_payload.Length} B{(IsLeased ? ", leased" : string.Empty)})";
}

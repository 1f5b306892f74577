using System.Buffers;

namespace Transport.WebSockets.Buffering;

/// <summary>
/// The seam through which a leaf turns received bytes into a frame's payload: an exact-size owned
/// array (the default) or a pooled lease the consumer returns (lease mode, docs/adr/0009).
/// </summary>
/// <remarks>
/// <para>
/// Every leaf of this assembly copies a completed message's bytes exactly once, through
/// <see cref="Create(FrameKind, ReadOnlySpan{byte})"/> or
/// <see cref="Create(FrameKind, in ReadOnlySequence{byte})"/>, and never builds a data frame's
/// payload another way. It validates the bytes (UTF-8, size) before calling, so a rejected message
/// is never allocated.
/// </para>
/// <para>
/// Stateless and thread-safe: one instance per mode, shared by every connection.
/// </para>
/// </remarks>
internal sealed class PayloadAllocator
{
    private readonly PayloadLeasePool? _leases;

    private PayloadAllocator(PayloadLeasePool? leases) => _leases = leases;

    /// <summary>Exact-size arrays the frames own (the default).</summary>
    public static PayloadAllocator Owned { get; } = new(null);

    /// <summary>Pooled leases (lease mode).</summary>
    public static PayloadAllocator Leased { get; } = new(PayloadLeasePool.Shared);

    /// <summary>The allocator for a mode.</summary>
    /// <param name="leased">True for lease mode.</param>
    /// <returns><see cref="Leased"/> or <see cref="Owned"/>.</returns>
    public static PayloadAllocator For(bool leased) => leased ? Leased : Owned;

    /// <summary>True when frames from this allocator are leased.</summary>
    public bool IsLeased => _leases is not null;

    /// <summary>A Text or Binary frame holding a copy of <paramref name="payload"/>.</summary>
    /// <param name="kind">Text or Binary.</param>
    /// <param name="payload">The message bytes (already validated).</param>
    /// <returns>The frame.</returns>
    public Frame Create(FrameKind kind, ReadOnlySpan<byte> payload)
    {
        if (_leases is null || payload.IsEmpty)
        {
            byte[] owned = payload.ToArray();
            return kind == FrameKind.Text ? Frame.Text(owned) : Frame.Binary(owned);
        }

        PayloadLease lease = _leases.Rent(payload.Length);
        payload.CopyTo(lease.Writable);
        return Frame.Leased(kind, lease);
    }

    /// <summary>A Text or Binary frame holding a copy of <paramref name="payload"/> (a parser's multi-segment view).</summary>
    /// <param name="kind">Text or Binary.</param>
    /// <param name="payload">The message bytes (already validated).</param>
    /// <returns>The frame.</returns>
    public Frame Create(FrameKind kind, in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            return Create(kind, payload.FirstSpan);
        }

        int length = checked((int)payload.Length);
        if (_leases is null)
        {
            byte[] owned = GC.AllocateUninitializedArray<byte>(length);
            payload.CopyTo(owned);
            return kind == FrameKind.Text ? Frame.Text(owned) : Frame.Binary(owned);
        }

        PayloadLease lease = _leases.Rent(length);
        payload.CopyTo(lease.Writable);
        return Frame.Leased(kind, lease);
    }
}

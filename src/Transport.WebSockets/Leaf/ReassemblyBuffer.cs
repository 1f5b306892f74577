using System.Buffers;
using System.Numerics;

namespace Transport.WebSockets;

/// <summary>
/// The per-connection buffer fragments are reassembled in. Shared by both leaves.
/// </summary>
/// <remarks>
/// Invariants:
/// Reassembly.B1: the array never grows past the message limit: growth doubles through the shared
///     pool while the pool's power-of-two size fits under the limit, and the last step allocates an
///     exact-size array (the pool would round a 1 MiB + 1 request up to 2 MiB).
/// Reassembly.B3 (test: PipeLeafIdleTests): the array is rented when a message first needs it and goes back
///     to the pool when the message is done (<see cref="Reset"/>), so a connection between messages holds
///     none (docs/adr/0021-cost-at-scale.md) and one multi-MB snapshot does not pin multi-MB for the connection's life.
/// Not thread-safe: one receive at a time owns it.
/// </remarks>
internal sealed class ReassemblyBuffer
{
    private readonly int _baseBytes;
    private readonly int _maxBytes;
    private byte[] _array;
    private bool _pooled;

    public ReassemblyBuffer(int baseBytes, int maxBytes)
    {
        _maxBytes = maxBytes;
        _baseBytes = Math.Max(1, Math.Min(baseBytes, maxBytes));
        _array = []; // B3: rented on first use
    }

    /// <summary>Bytes of array held now (0 between messages, B3).</summary>
    public int HeldBytes => _array.Length;

    /// <summary>The array (its first <see cref="Length"/> bytes are the message so far).</summary>
    public byte[] Array => _array;

    /// <summary>Bytes of the message so far.</summary>
    public int Length { get; set; }

    /// <summary>The largest the array may become.</summary>
    public int MaxBytes => _maxBytes;

    /// <summary>The message so far.</summary>
    public Span<byte> Written => _array.AsSpan(0, Length);

    /// <summary>The free space after <see cref="Length"/> (empty when the array is full).</summary>
    public Span<byte> Free => _array.AsSpan(Length);

    /// <summary>True when the array holds <see cref="MaxBytes"/> bytes: nothing more may be added.</summary>
    public bool AtLimit => Length >= _maxBytes;

    /// <summary>Grows (B1) so that at least <paramref name="extra"/> more bytes fit, capped at the limit.</summary>
    /// <param name="extra">Bytes wanted beyond <see cref="Length"/>.</param>
    public void EnsureRoom(int extra)
    {
        if (_array.Length == 0)
        {
            // B3: the first use of this message rents the base size (or more, capped at the limit).
            (_array, _pooled) = Allocate((int)Math.Min(Math.Max(extra, _baseBytes), _maxBytes));
        }

        var needed = (long)Length + extra;
        if (needed <= _array.Length || _array.Length >= _maxBytes)
        {
            return;
        }

        var target = (int)Math.Min(Math.Max(needed, (long)_array.Length * 2), _maxBytes);
        var (grown, pooled) = Allocate(target);
        _array.AsSpan(0, Length).CopyTo(grown);
        Return();
        _array = grown;
        _pooled = pooled;
    }

    /// <summary>Forgets the message and returns the array to the pool (B3).</summary>
    public void Reset()
    {
        Length = 0;
        Return();
        _array = [];
        _pooled = false;
    }

    /// <summary>Returns the array to the pool (once, when the connection is disposed).</summary>
    public void Release()
    {
        Return();
        _array = [];
        _pooled = false;
        Length = 0;
    }

    private (byte[] Array, bool Pooled) Allocate(int size)
    {
        // Reassembly.B1: the pool hands out power-of-two lengths; only use it when that length is within the limit.
        var pooledSize = Math.Max(16L, BitOperations.RoundUpToPowerOf2((uint)size)); // the pool's smallest array is 16 bytes
        return pooledSize <= _maxBytes
            ? (ArrayPool<byte>.Shared.Rent(size), true)
            : (GC.AllocateUninitializedArray<byte>(size), false);
    }

    private void Return()
    {
        if (_pooled)
        {
            ArrayPool<byte>.Shared.Return(_array);
        }
    }
}

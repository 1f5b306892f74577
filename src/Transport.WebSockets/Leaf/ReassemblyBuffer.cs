using System.Buffers;
using System.Numerics;

namespace Transport.WebSockets;

/// <summary>
/// The per-connection buffer a fragmented (or inflated) message is reassembled in: a chain of
/// segments, so growing never moves what was already received.
/// </summary>
/// <remarks>
/// Invariants (tests: ReassemblyBufferTests, PipeLeafParserTests):
/// Reassembly.B1: the arrays held for one message never total more than the limit, pool rounding
///     included: each new segment is a power of two no larger than what the limit leaves (the shared
///     pool hands out exactly that length), and a remnant under the pool's 16-byte minimum is an
///     exact-size array. A message rejected at a 16 MiB limit therefore holds at most 16 MiB, never
///     the 32 MiB a doubling array reaches (half in the old array, all of it in the new one).
/// Reassembly.B2: growing copies nothing: a message of n bytes is copied in once and out once.
/// Reassembly.B3: after a message every segment but the first goes back to the pool, so one multi-MB
///     snapshot does not pin multi-MB for the connection's life.
/// Segments grow geometrically (each about the size of all before it), so a 16 MiB message from a
/// 64 KiB base takes 9 segments. Not thread-safe: one receive at a time owns it.
/// </remarks>
internal sealed class ReassemblyBuffer
{
    private const int PoolMinimum = 16; // ArrayPool<byte>.Shared never hands out less

    private readonly int _maxBytes;
    private Segment[] _segments = new Segment[4];
    private Node?[] _nodes = [];
    private int _count; // segments in use (the first is kept across messages)
    private int _current; // the segment being written
    private long _capacity; // the sum of the segments' lengths
    private long _peakHeld;

    public ReassemblyBuffer(int baseBytes, int maxBytes)
    {
        _maxBytes = maxBytes;
        var first = RoundDownToPowerOf2(Math.Max(1, Math.Min(baseBytes, maxBytes)));
        AddSegment(first);
    }

    /// <summary>Bytes of the message so far.</summary>
    public int Length { get; private set; }

    /// <summary>The largest message the buffer may hold.</summary>
    public int MaxBytes => _maxBytes;

    /// <summary>True when the message is <see cref="MaxBytes"/> long: nothing more may be added.</summary>
    public bool AtLimit => Length >= _maxBytes;

    /// <summary>True when the message so far lies in one array (<see cref="FirstSpan"/> is all of it).</summary>
    public bool IsSingleSegment => _current == 0;

    /// <summary>The message so far when <see cref="IsSingleSegment"/>.</summary>
    public ReadOnlySpan<byte> FirstSpan => _segments[0].Array.AsSpan(0, _segments[0].Used);

    /// <summary>The bytes the buffer holds in arrays right now (B1 bounds it by <see cref="MaxBytes"/>).</summary>
    public long HeldBytes => _capacity;

    /// <summary>The most <see cref="HeldBytes"/> ever reached (for tests and diagnostics).</summary>
    public long PeakHeldBytes => _peakHeld;

    /// <summary>
    /// Free space to write the message's next bytes into: never empty unless <see cref="AtLimit"/>.
    /// Grows the buffer (B1) when the current segment is full.
    /// </summary>
    /// <returns>The free span; call <see cref="Advance"/> with what was written.</returns>
    public Span<byte> GetFree()
    {
        ref var segment = ref _segments[_current];
        var free = segment.Array.Length - segment.Used;
        if (free > 0)
        {
            return segment.Array.AsSpan(segment.Used, (int)Math.Min(free, (long)_maxBytes - Length));
        }

        if (_capacity >= _maxBytes)
        {
            return [];
        }

        // Reassembly.B1: about the size of everything so far, a power of two, within what the limit leaves.
        var left = _maxBytes - _capacity;
        AddSegment(RoundDownToPowerOf2((int)Math.Min(Math.Max(_capacity, 1), left)));
        _current = _count - 1;

        ref var next = ref _segments[_current];
        return next.Array.AsSpan(0, (int)Math.Min(next.Array.Length, (long)_maxBytes - Length));
    }

    /// <summary>Records <paramref name="count"/> bytes written into the span <see cref="GetFree"/> returned.</summary>
    /// <param name="count">Bytes written.</param>
    public void Advance(int count)
    {
        _segments[_current].Used += count;
        Length += count;
    }

    /// <summary>Appends <paramref name="source"/> (the caller checked it fits under the limit).</summary>
    /// <param name="source">The bytes.</param>
    public void Append(ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            var free = GetFree();
            if (free.IsEmpty)
            {
                throw new InvalidOperationException("The reassembly buffer is at its limit.");
            }

            var n = Math.Min(free.Length, source.Length);
            source[..n].CopyTo(free);
            Advance(n);
            source = source[n..];
        }
    }

    /// <summary>The message so far as one sequence (the segments, without copying; valid until the next change).</summary>
    /// <returns>The sequence.</returns>
    public ReadOnlySequence<byte> AsSequence()
    {
        if (IsSingleSegment)
        {
            return new ReadOnlySequence<byte>(_segments[0].Array, 0, _segments[0].Used);
        }

        Node? first = null, last = null;
        for (var i = 0; i <= _current; i++)
        {
            ref var segment = ref _segments[i];
            if (_nodes.Length <= i)
            {
                Array.Resize(ref _nodes, _segments.Length);
            }

            var node = _nodes[i] ??= new Node();
            node.Set(segment.Array.AsMemory(0, segment.Used), last is null ? 0 : last.RunningIndex + last.Memory.Length);
            if (last is null)
            {
                first = node;
            }
            else
            {
                last.Link(node);
            }

            last = node;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>Forgets the message; returns every segment but the first to the pool (B3).</summary>
    public void Reset()
    {
        for (var i = 1; i < _count; i++)
        {
            Return(ref _segments[i]);
        }

        _capacity = _count > 0 ? _segments[0].Array.Length : 0;
        _count = Math.Min(_count, 1);
        _segments[0].Used = 0;
        _current = 0;
        Length = 0;
    }

    /// <summary>Returns every array to the pool (once, when the connection is disposed).</summary>
    public void Release()
    {
        Reset();
        if (_count == 1)
        {
            Return(ref _segments[0]);
        }

        _segments[0] = new Segment([], false);
        _count = 1;
        _capacity = 0;
    }

    private static int RoundDownToPowerOf2(int value) => (int)(BitOperations.RoundUpToPowerOf2((uint)value + 1) >> 1);

    private void AddSegment(int size)
    {
        // Reassembly.B1: a power of two of at least 16 is exactly what the pool hands out; anything else is allocated exactly.
        var pooled = size >= PoolMinimum && BitOperations.IsPow2(size);
        var array = pooled ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);
        if (array.Length != size)
        {
            // Another pool implementation could round up: never hold more than asked for.
            ArrayPool<byte>.Shared.Return(array);
            array = GC.AllocateUninitializedArray<byte>(size);
            pooled = false;
        }

        if (_count == _segments.Length)
        {
            Array.Resize(ref _segments, _count * 2);
        }

        _segments[_count++] = new Segment(array, pooled);
        _capacity += size;
        _peakHeld = Math.Max(_peakHeld, _capacity);
    }

    private static void Return(ref Segment segment)
    {
        if (segment.Pooled)
        {
            ArrayPool<byte>.Shared.Return(segment.Array);
        }

        segment = new Segment([], false);
    }

    private struct Segment(byte[] array, bool pooled)
    {
        public readonly byte[] Array = array;
        public readonly bool Pooled = pooled;
        public int Used;
    }

    // One reusable sequence node per segment slot: building the sequence allocates nothing after the first message.
    private sealed class Node : ReadOnlySequenceSegment<byte>
    {
        public void Set(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
            Next = null;
        }

        public void Link(Node next) => Next = next;
    }
}

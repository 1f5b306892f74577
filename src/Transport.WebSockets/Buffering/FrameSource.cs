using System.Diagnostics;

namespace Transport.WebSockets.Buffering;

// Invariants (tests in tests/Transport.Tests/Buffering/FrameSourceTests.cs):
//
// Source.S1: Every path (await foreach, TryRead, TryReadBatch, ReadBatchAsync, in any mix) yields
//            the ring's frames exactly once, in ring order: the read-ahead is owned by the source,
//            not by one enumerator, so breaking out of an await foreach loses nothing.
//            FrameSourceTests.S1_mixed_reads_yield_every_frame_once_in_order
//            FrameSourceTests.S1_breaking_out_of_await_foreach_loses_nothing
// Source.S2: The read-ahead holds at most ReadAheadFrames frames and ReadAheadBytes payload bytes
//            (or one frame, if that frame alone is larger), so the slow-consumer bound grows by at
//            most that much. Count and BufferedBytes include it.
//            FrameSourceTests.S2_read_ahead_is_bounded_by_frames_and_bytes
// Source.S3: An empty read-ahead holds no array: it is rented (FrameArrayCache) when a batch is taken from
//            the ring and returned when its last frame is handed out, so a waiting consumer holds none.
//            FrameSourceTests.S3_an_emptied_read_ahead_holds_no_array

/// <summary>
/// The adapter-facing receive side over the actor's <see cref="DropOldestRing"/>: the consumer
/// takes frames from the ring in batches (one lock per batch) into a small read-ahead and serves
/// <c>await foreach</c> and <see cref="TryRead"/> from it.
/// </summary>
/// <remarks>
/// Single consumer, like the ring: the read-ahead fields are touched only by the consumer's
/// calls, so they need no lock. <see cref="Count"/> and <see cref="BufferedBytes"/> may be read
/// from any thread (metrics) and are then approximate by at most one batch.
/// </remarks>
internal sealed class FrameSource : IFrameSource
{
    /// <summary>Most frames taken from the ring per lock section.</summary>
    internal const int ReadAheadFrames = 64;

    /// <summary>Most payload bytes taken from the ring per batch (the first frame is always taken).</summary>
    internal const long ReadAheadBytes = 64 * 1024;

    private readonly DropOldestRing _ring;

    // Consumer-only: frames taken from the ring and not yet handed out, [_next, _end); null when empty (S3).
    private Frame[]? _readAhead;
    private int _next;
    private int _end;
    private long _readAheadBytes;

    public FrameSource(DropOldestRing ring) => _ring = ring;

    /// <summary>True while the read-ahead holds an array (for tests: Source.S3).</summary>
    internal bool HoldsReadAheadArray => _readAhead is not null;

    public int Count => _ring.Count + Math.Max(0, Volatile.Read(ref _end) - Volatile.Read(ref _next));

    public long BufferedBytes => _ring.Bytes + Math.Max(0, Volatile.Read(ref _readAheadBytes));

    public bool TryRead(out Frame frame)
    {
        if (_next == _end && !Refill())
        {
            frame = default;
            return false;
        }

        frame = Take();
        return true;
    }

    public int TryReadBatch(Span<Frame> destination)
    {
        int taken = 0;
        while (taken < destination.Length && _next < _end)
        {
            destination[taken++] = Take();
        }

        if (taken < destination.Length)
        {
            // Straight from the ring: the caller's span is the batch, no read-ahead in between.
            taken += _ring.TryReadBatch(destination[taken..]);
        }

        return taken;
    }

    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
        _next < _end ? new ValueTask<bool>(true) : _ring.WaitToReadAsync(cancellationToken);

    public IAsyncEnumerator<Frame> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(this, cancellationToken);

    // One lock section for up to ReadAheadFrames frames (Source.S2).
    private bool Refill()
    {
        Debug.Assert(_next == _end && _readAhead is null);
        var readAhead = FrameArrayCache.Rent();
        int taken = _ring.TryReadBatch(readAhead, ReadAheadBytes);
        if (taken == 0)
        {
            FrameArrayCache.Return(readAhead);
            return false;
        }

        _readAhead = readAhead;

        long bytes = 0;
        for (int i = 0; i < taken; i++)
        {
            bytes += readAhead[i].Length;
        }

        Volatile.Write(ref _readAheadBytes, bytes);
        _next = 0;
        Volatile.Write(ref _end, taken);
        return true;
    }

    // Hand-written rather than an async iterator (`yield return`): a frame already in the read-ahead
    // or the ring is returned from MoveNextAsync directly, without the compiler's state machine and
    // its ValueTask source on every item; only a wait goes through an async method. Measured (round
    // 4, 100 B text, Pipelines leaf, CPU per message): with the iterator `await foreach` cost 602 ns
    // against 498 for a WaitToReadAsync/TryRead loop (median of three runs); with this enumerator two
    // runs measured 554 and 563 against 566 and 555 (docs/benchmarks.md, round 4).
    private sealed class Enumerator(FrameSource source, CancellationToken cancellationToken) : IAsyncEnumerator<Frame>
    {
        private Frame _current;

        public Frame Current => _current;

        public ValueTask<bool> MoveNextAsync() =>
            source.TryRead(out _current) ? new ValueTask<bool>(true) : WaitThenReadAsync();

        public ValueTask DisposeAsync()
        {
            _current = default; // the enumerator must not keep a handed-out payload alive
            return default;
        }

        private async ValueTask<bool> WaitThenReadAsync()
        {
            // As before: wait (true = readable, false = completed; a fault or the token throws), then read.
            while (await source.WaitToReadAsync(cancellationToken))
            {
                if (source.TryRead(out _current))
                {
                    return true;
                }
            }

            _current = default;
            return false;
        }
    }

    private Frame Take()
    {
        var readAhead = _readAhead!;
        ref Frame slot = ref readAhead[_next];
        Frame frame = slot;
        slot = default; // the read-ahead must not keep a handed-out payload alive
        Volatile.Write(ref _readAheadBytes, _readAheadBytes - frame.Length);
        Volatile.Write(ref _next, _next + 1);
        if (_next == _end)
        {
            // Source.S3: emptied (every slot cleared as it was taken): the array goes back.
            _readAhead = null;
            FrameArrayCache.Return(readAhead);
        }

        return frame;
    }
}

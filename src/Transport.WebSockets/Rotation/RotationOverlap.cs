using Transport.WebSockets.Buffering;
using Transport.WebSockets.Dedupe;

namespace Transport.WebSockets.Rotation;

/// <summary>
/// The receive side of a make-before-break rotation: while two sockets of one connection are open (the old
/// one serving, the next one coming up), every batch either socket hands to the ring passes through here.
/// Outside a rotation it is one volatile read and the ring's own write.
/// </summary>
/// <remarks>
/// <para>
/// Keyed frames (the adapter's <see cref="FrameKeySelector"/>) are delivered once: first arrival wins, in a
/// <see cref="DedupeWindow"/> bounded by count and age that lives for the overlap only (its keys are those
/// offered since the rotation began). Frames without a key (no selector, the selector says none, or it
/// throws) are delivered from the old socket until the switch and from the new one after it (its frames held
/// until its up-edge included: they follow the old socket's); the old socket's after the switch are
/// dropped, released and counted. Filtering and the ring write happen under one lock, so the two sockets'
/// deliveries are never interleaved inside a batch and a frame admitted first is also written first.
/// </para>
/// <para>Thread safety: the two receive loops and the actor call in concurrently; one lock serializes them.</para>
/// </remarks>
internal sealed class RotationOverlap
{
    private readonly FrameKeySelector? _selector;
    private readonly DedupeWindowOptions _options;
    private readonly long _frequency;
    private readonly Lock _gate = new();
    private DedupeWindow? _window;
    private volatile bool _active;
    private long _oldEpoch = -1;
    private long _newEpoch = -1;
    private bool _switched;
    private bool _oldGone;
    private long _duplicates;
    private long _unkeyedDropped;
    private long _selectorFaults;

    private readonly TimeProvider _time;
    private ITimer? _retirement;
    private long _generation;

    public RotationOverlap(FrameKeySelector? selector, DedupeWindowOptions options, TimeProvider time)
    {
        _selector = selector;
        _options = options;
        _time = time;
        _frequency = time.TimestampFrequency;
    }

    /// <summary>Whether a rotation is in progress (both sockets may deliver).</summary>
    public bool Active => _active;

    /// <summary>Keyed copies dropped in the current (or last) overlap.</summary>
    public long Duplicates
    {
        get
        {
            lock (_gate)
            {
                return _duplicates;
            }
        }
    }

    /// <summary>Unkeyed frames dropped in the current (or last) overlap (the socket that was not serving them).</summary>
    public long UnkeyedDropped
    {
        get
        {
            lock (_gate)
            {
                return _unkeyedDropped;
            }
        }
    }

    /// <summary>Times the selector threw in the current (or last) overlap (those frames were treated as unkeyed).</summary>
    public long SelectorFaults
    {
        get
        {
            lock (_gate)
            {
                return _selectorFaults;
            }
        }
    }

    /// <summary>A rotation away from <paramref name="oldEpoch"/> begins; counts restart.</summary>
    public void Begin(long oldEpoch)
    {
        lock (_gate)
        {
            _generation++;
            _retirement?.Dispose();
            _retirement = null;
            _oldEpoch = oldEpoch;
            _newEpoch = -1;
            _switched = false;
            _oldGone = false;
            _duplicates = 0;
            _unkeyedDropped = 0;
            _selectorFaults = 0;
            if (_selector is not null)
            {
                // Created on the first rotation and kept (it allocates as it grows, never shrinks).
                _window ??= new DedupeWindow(_options, _frequency);
                _window.Clear();
            }

            _active = true;
        }
    }

    /// <summary>The next socket has its epoch.</summary>
    public void NewSocket(long newEpoch)
    {
        lock (_gate)
        {
            _newEpoch = newEpoch;
        }
    }

    /// <summary>The switch: from now on unkeyed frames come from the new socket.</summary>
    public void Switch()
    {
        lock (_gate)
        {
            _switched = true;
        }
    }

    /// <summary>
    /// The old socket is gone (closed after the switch, or died before it: Rotation.T6). The new socket may
    /// still be behind it, so its keyed frames are still checked against what the old one delivered until the
    /// window's <see cref="DedupeWindowOptions.MaxAge"/> has passed (on the injected clock); its unkeyed frames,
    /// held ones included, are all delivered from now on. Then the direct path resumes.
    /// </summary>
    public void Retire()
    {
        lock (_gate)
        {
            if (!_active)
            {
                return;
            }

            _oldGone = true;
            if (_window is null)
            {
                // Nothing keyed to catch: done now.
                EndLocked();
                return;
            }

            _retirement?.Dispose();
            var generation = _generation;
            _retirement = _time.CreateTimer(
                static state =>
                {
                    var (overlap, due) = ((RotationOverlap, long))state!;
                    lock (overlap._gate)
                    {
                        if (overlap._generation == due)
                        {
                            overlap.EndLocked();
                        }
                    }
                },
                (this, generation),
                _options.MaxAge,
                Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The overlap is over (the old socket closed, or the rotation failed): back to the direct path.</summary>
    public void End()
    {
        lock (_gate)
        {
            EndLocked();
        }
    }

    private void EndLocked()
    {
        _generation++;
        _retirement?.Dispose();
        _retirement = null;
        _active = false;
        _window?.Clear();
    }

    /// <summary>
    /// Writes the data frames of <paramref name="batch"/>, received on the socket of <paramref name="epoch"/>, to
    /// <paramref name="ring"/>: all of them outside a rotation, the ones the overlap rules keep during one (the
    /// others released). Returns how many frames the ring evicted.
    /// </summary>
    /// <param name="ring">The connection's ring.</param>
    /// <param name="batch">The batch; filtered in place.</param>
    /// <param name="epoch">The epoch of the socket it came on.</param>
    /// <param name="now">A timestamp for frames the leaf did not stamp.</param>
    public int Write(DropOldestRing ring, Span<Frame> batch, long epoch, long now)
    {
        if (!_active)
        {
            return ring.WriteBatch(batch);
        }

        lock (_gate)
        {
            if (!_active)
            {
                return ring.WriteBatch(batch);
            }

            var kept = 0;
            for (var i = 0; i < batch.Length; i++)
            {
                if (Keep(in batch[i], epoch, now))
                {
                    batch[kept++] = batch[i];
                }
                else
                {
                    batch[i].Release();
                }
            }

            return kept == 0 ? 0 : ring.WriteBatch(batch[..kept]);
        }
    }

    // Rotation.T4 and T5, under the lock.
    private bool Keep(in Frame frame, long epoch, long now)
    {
        if (_window is not null && TrySelect(in frame, out var key))
        {
            if (_window.TryAdmit(key, frame.ReceivedAt != 0 ? frame.ReceivedAt : now, out _))
            {
                return true;
            }

            _duplicates++;
            return false;
        }

        // The new socket's frames received before the switch were held until its up-edge (Session.S9) and are
        // released right after the switch: they are the replies to its own initializer's requests (subscribe
        // acks, snapshots), which only that socket carries, so they are delivered, after the old socket's.
        var serving = _oldGone || _switched ? _newEpoch : _oldEpoch;
        if (epoch == serving)
        {
            return true;
        }

        _unkeyedDropped++;
        return false;
    }

    private bool TrySelect(in Frame frame, out DedupeKey key)
    {
        try
        {
            return _selector!(in frame, out key);
        }
        catch (Exception)
        {
            // As Legs.R4: the adapter's code; an exception makes this frame unkeyed.
            _selectorFaults++;
            key = default;
            return false;
        }
    }
}

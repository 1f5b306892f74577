namespace Transport.WebSockets.Legs;

// Invariants (each proven by a test carrying [Trait("Invariant", "<id>")] in tests/Transport.Tests/Legs/):
//
// Legs.A1: The aggregate is up while at least one leg is up (Connected, Stale or Resumed) and down only when
//          every leg is down; a leg going down while another is up changes no phase and no epoch.
// Legs.A2: Epoch counts the aggregate's completed down-cycles: it advances once at each up-edge that follows an
//          all-down period (not the first up-edge), and DownSince is when the last leg went down (the latest
//          down-since of the legs), LastOutage the length of that period.
// Legs.A3: A period in which every leg was down, found from the legs' own down-since and up-since levels
//          (a liveness timeout back-dates a leg's down-since to its last sign of life; a leg's down-cycle
//          skipped by a catch-up is known by its LastOutage), advances the epoch once even when the aggregate
//          never showed it down: the merged feed may have a gap there. Each such period is counted once.
// Legs.A4: Terminal only when every leg is terminal: Closed after a shutdown or when no leg is Unrecoverable,
//          else Unrecoverable; Exhausted when a leg's MaxAttempts ran out. During a shutdown the aggregate
//          shows no down-edge: it goes from its phase straight to Closed.
// Legs.A5: Each leg's snapshots are applied in version order; an older snapshot than one already applied
//          (a catch-up read the leg's newest first) is ignored.
// Legs.A6: Attempts and TotalLagged are the sums over the legs, TotalLagged plus the merged source's own
//          evictions: both cumulative, never decreasing.

/// <summary>
/// The aggregate lifecycle of a redundant connection, computed from its legs' snapshots: pure (no I/O, no
/// clock, no lock; the owner serializes calls and passes the time). Produces a <see cref="LifecycleSnapshot"/>
/// with the meaning it has for one connection, so an adapter can hold the aggregate like one.
/// </summary>
internal sealed class LegAggregation
{
    private readonly LegView[] _legs;
    private LifecycleSnapshot _current = LifecycleSnapshot.Initial;
    private bool _everUp;
    private bool _shutdown;
    private long _mergedLagged;
    private TransportException? _lastError;

    // Legs.A3: the end of the newest all-down period already counted (live or found from the levels).
    private DateTimeOffset _countedUntil = DateTimeOffset.MinValue;

    /// <summary>Creates the aggregate of <paramref name="legs"/> legs, all connecting since <paramref name="start"/>.</summary>
    public LegAggregation(int legs, DateTimeOffset start)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(legs, 1);
        _legs = new LegView[legs];
        for (int i = 0; i < legs; i++)
        {
            _legs[i] = new LegView { DownStart = start };
        }

        _current = LifecycleSnapshot.Initial with { DownSince = start };
    }

    /// <summary>The aggregate now (its Version is the owner's publisher's business; 0 here).</summary>
    public LifecycleSnapshot Current => _current;

    /// <summary>How many legs there are.</summary>
    public int Count => _legs.Length;

    /// <summary>The newest applied snapshot of leg <paramref name="leg"/> (Initial before the first).</summary>
    public LifecycleSnapshot Leg(int leg) => _legs[leg].Snapshot;

    /// <summary>True when leg <paramref name="leg"/> is up as far as its applied snapshots say.</summary>
    public bool IsUp(int leg) => _legs[leg].Snapshot.IsUp;

    /// <summary>The first leg in order that is up; -1 when none is.</summary>
    public int Primary
    {
        get
        {
            for (int i = 0; i < _legs.Length; i++)
            {
                if (_legs[i].Snapshot.IsUp)
                {
                    return i;
                }
            }

            return -1;
        }
    }

    /// <summary>Legs up now.</summary>
    public int UpCount => _legs.Count(l => l.Snapshot.IsUp);

    /// <summary>
    /// Applies a snapshot of leg <paramref name="leg"/>; snapshots older than the newest applied one are
    /// ignored (Legs.A5).
    /// </summary>
    /// <returns>True when the aggregate changed.</returns>
    public bool Apply(int leg, LifecycleSnapshot snapshot, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var view = _legs[leg];
        if (view.Applied && snapshot.Version <= view.Snapshot.Version)
        {
            return false;
        }

        var previous = view.Snapshot;
        bool wasUp = view.Applied && previous.IsUp;
        view.Snapshot = snapshot;
        view.Applied = true;
        if (snapshot.LastError is { } error && !ReferenceEquals(error, previous.LastError))
        {
            _lastError = error;
        }

        bool isUp = snapshot.IsUp;
        if (wasUp && !isUp)
        {
            view.DownStart = snapshot.DownSince ?? now;
        }
        else if (!wasUp && isUp)
        {
            var up = snapshot.UpSince ?? now;
            var down = view.DownStart ?? up;
            if (snapshot.LastOutage is { } outage && snapshot.Epoch > previous.Epoch + 1 && up - outage > down)
            {
                // Several down-cycles were skipped: only the last one's length is known (a level).
                down = up - outage;
            }

            view.LastDown = (down, up);
            view.DownStart = null;
        }
        else if (wasUp && isUp && snapshot.Epoch > previous.Epoch && snapshot.UpSince is { } up && snapshot.LastOutage is { } outage)
        {
            // A down-cycle never seen (a catch-up read a newer snapshot): its interval from the levels.
            view.LastDown = (up - outage, up);
        }
        else if (!isUp && snapshot.DownSince is { } since && view.DownStart is { } open && since < open)
        {
            // A liveness timeout back-dates the loss to the last sign of life.
            view.DownStart = since;
        }

        return Recompute(now);
    }

    /// <summary>Adds evictions of the merged source to TotalLagged (Legs.A6).</summary>
    /// <returns>True when the aggregate changed.</returns>
    public bool AddMergedLagged(long evicted, DateTimeOffset now)
    {
        if (evicted <= 0)
        {
            return false;
        }

        _mergedLagged += evicted;
        return Recompute(now);
    }

    /// <summary>The owner shuts the legs down: no down-edge is shown from now on, Closed when all are terminal (Legs.A4).</summary>
    /// <returns>True when the aggregate changed.</returns>
    public bool RequestShutdown(DateTimeOffset now)
    {
        _shutdown = true;
        return Recompute(now);
    }

    private bool Recompute(DateTimeOffset now)
    {
        var c = _current;
        if (c.IsTerminal)
        {
            return false;
        }

        long attempts = 0, lagged = _mergedLagged;
        bool anyUp = false, allTerminal = true, allUpStale = true, anyUnrecoverable = false, anyExhausted = false;
        DateTimeOffset? lastDown = null;
        DateTimeOffset? firstUp = null;
        foreach (var view in _legs)
        {
            var s = view.Snapshot;
            attempts += s.Attempts;
            lagged += s.TotalLagged;
            allTerminal &= s.IsTerminal;
            anyUnrecoverable |= s.Phase == ConnectionPhase.Unrecoverable;
            anyExhausted |= s.Exhausted;
            if (s.IsUp)
            {
                anyUp = true;
                allUpStale &= s.Phase == ConnectionPhase.Stale;
                var up = s.UpSince ?? now;
                firstUp = firstUp is { } f && f <= up ? f : up;
            }
            else if (view.DownStart is { } d)
            {
                lastDown = lastDown is { } l && l >= d ? l : d;
            }
        }

        LifecycleSnapshot next;
        if (allTerminal)
        {
            // Legs.A4.
            var phase = _shutdown || !anyUnrecoverable ? ConnectionPhase.Closed : ConnectionPhase.Unrecoverable;
            DateTimeOffset? downSince = c.DownSince;
            if (c.IsUp)
            {
                // From up: the instant of a shutdown, else when the last leg went down.
                downSince = _shutdown ? now : lastDown ?? now;
            }

            next = c with
            {
                Phase = phase,
                DownSince = downSince,
                UpSince = null,
                Exhausted = anyExhausted,
            };
        }
        else if (_shutdown)
        {
            // Legs.A4: no down-edge during a shutdown; the levels still move.
            next = c;
        }
        else if (anyUp)
        {
            if (!c.IsUp)
            {
                // Legs.A2: an up-edge; a down-cycle completed unless this is the first one.
                var upAt = firstUp ?? now;
                if (upAt < (c.DownSince ?? upAt))
                {
                    upAt = now;
                }

                next = _everUp
                    ? c with { Phase = allUpStale ? ConnectionPhase.Stale : ConnectionPhase.Resumed, Epoch = c.Epoch + 1, DownSince = null, UpSince = upAt, LastOutage = upAt - (c.DownSince ?? upAt) }
                    : c with { Phase = allUpStale ? ConnectionPhase.Stale : ConnectionPhase.Connected, DownSince = null, UpSince = upAt };
                _everUp = true;
                _countedUntil = upAt;
            }
            else
            {
                next = c with { Phase = allUpStale ? ConnectionPhase.Stale : c.Epoch == 0 ? ConnectionPhase.Connected : ConnectionPhase.Resumed };
                if (UncountedAllDown() is { } gap)
                {
                    // Legs.A3: every leg was down at once and the aggregate never showed it.
                    next = next with { Phase = allUpStale ? ConnectionPhase.Stale : ConnectionPhase.Resumed, Epoch = c.Epoch + 1, UpSince = gap.End, LastOutage = gap.End - gap.Start };
                    _countedUntil = gap.End;
                }
            }
        }
        else if (c.IsUp)
        {
            // Legs.A1, A2: the last leg went down.
            next = c with { Phase = ConnectionPhase.Reconnecting, DownSince = lastDown ?? now, UpSince = null };
        }
        else
        {
            next = c;
        }

        next = next with { Attempts = attempts, TotalLagged = Math.Max(lagged, c.TotalLagged), LastError = _lastError };
        if (next == c)
        {
            return false;
        }

        _current = next;
        return true;
    }

    // Legs.A3: the intersection of every leg's newest down interval (the open one, else the last closed
    // one), when it is not empty and starts after the last period already counted.
    private (DateTimeOffset Start, DateTimeOffset End)? UncountedAllDown()
    {
        if (_legs.Length < 2)
        {
            return null;
        }

        var start = DateTimeOffset.MinValue;
        var end = DateTimeOffset.MaxValue;
        foreach (var view in _legs)
        {
            (DateTimeOffset Start, DateTimeOffset End) interval;
            if (view.DownStart is { } open && !view.Snapshot.IsUp)
            {
                interval = (open, DateTimeOffset.MaxValue);
            }
            else if (view.LastDown is { } last)
            {
                interval = last;
            }
            else
            {
                return null;
            }

            start = interval.Start > start ? interval.Start : start;
            end = interval.End < end ? interval.End : end;
        }

        return start < end && end != DateTimeOffset.MaxValue && start >= _countedUntil ? (start, end) : null;
    }

    private sealed class LegView
    {
        public LifecycleSnapshot Snapshot { get; set; } = LifecycleSnapshot.Initial;

        public bool Applied { get; set; }

        // While the leg is down: since when (its down-since, else when we saw it go down).
        public DateTimeOffset? DownStart { get; set; }

        // The newest completed down interval.
        public (DateTimeOffset Start, DateTimeOffset End)? LastDown { get; set; }
    }
}

using Transport.Nats.Feeds;

namespace Transport.Nats.Consuming;

// Invariants (each proven by the named test in tests/Transport.Nats.Tests/Consuming/ConsumerLifecycleTests.cs):
//
// View.V1: Up only when all three hold: the consumer's NATS connection is open, the relay's published phase is
//     up, and the relay's lease is live (renewed within the liveness bound). Otherwise Connecting (never up
//     yet) or Reconnecting: the consumer is never blind without saying so, whichever link broke.
//     ConsumerLifecycleTests.V1_up_needs_the_bus_the_relay_and_a_live_lease
// View.V2: DownSince is when the first broken link broke (the relay's DownSince, the lease's last renewal seen,
//     the bus's disconnect), kept while down; UpSince and LastOutage are set at the up-edge.
//     ConsumerLifecycleTests.V2_down_since_is_the_earliest_cause_and_is_kept_while_down
// View.V3: Epoch and Attempts never go backwards; a takeover (the relay's epoch advance) is a Resumed on the next epoch.
//     ConsumerLifecycleTests.V3_a_takeover_is_a_resume_on_the_next_epoch
// View.V4: TotalLagged = the relay's cumulative lag (the larger of its lifecycle's and the newest frame header's)
//     + sequence gaps + ring evictions + frames of a fenced relay discarded: cumulative, never decreasing.
//     ConsumerLifecycleTests.V4_total_lagged_adds_every_loss_the_consumer_knows
// View.V5: A relay's terminal phase is not the consumer's end (a standby or a restart may follow): it is
//     Reconnecting with the relay's error and Exhausted; only disposing the consumer is terminal (Closed).
//     ConsumerLifecycleTests.V5_only_disposal_is_terminal

/// <summary>Everything the consumer knows at one instant, for <see cref="ConsumerLifecycle.Compose"/>.</summary>
internal readonly record struct ConsumerInputs(
    bool Disposed,
    bool BusUp,
    DateTimeOffset? BusDownSince,
    TransportException? BusError,
    LifecycleRecord? Relay,
    bool LeaseLive,
    DateTimeOffset? LeaseLastSeen,
    long UpstreamLag,
    long Gaps,
    long Evictions,
    long StaleFrames);

/// <summary>Composes the consumer's <see cref="LifecycleSnapshot"/> from the relay's and its own state. Pure.</summary>
internal static class ConsumerLifecycle
{
    public static LifecycleSnapshot Compose(LifecycleSnapshot previous, in ConsumerInputs inputs, bool everUp, DateTimeOffset now)
    {
        var relay = inputs.Relay;
        long epoch = Math.Max(previous.Epoch, relay?.Epoch ?? 0);
        long attempts = Math.Max(previous.Attempts, relay?.Attempts ?? 0);
        long lagged = Math.Max(
            previous.TotalLagged,
            Math.Max(relay?.TotalLagged ?? 0, inputs.UpstreamLag) + inputs.Gaps + inputs.Evictions + inputs.StaleFrames);
        bool exhausted = previous.Exhausted || (relay?.Exhausted ?? false);
        var error = inputs.BusError ?? (relay?.LastError is { } e
            ? previous.LastError is { } p && p.Kind == e.Kind && p.Message == e.Message ? p : e.ToException()
            : previous.LastError);

        if (inputs.Disposed)
        {
            return previous with
            {
                Phase = ConnectionPhase.Closed,
                Epoch = epoch,
                Attempts = attempts,
                TotalLagged = lagged,
                Exhausted = exhausted,
                DownSince = previous.DownSince ?? now,
                UpSince = null,
                LastError = error,
            };
        }

        bool up = inputs.BusUp && relay is { IsUp: true } && inputs.LeaseLive;
        if (up)
        {
            bool sameSession = previous.IsUp && previous.Epoch == epoch;
            TimeSpan? lastOutage = previous.LastOutage;
            if (!previous.IsUp && previous.DownSince is { } d && everUp)
            {
                lastOutage = now - d;
            }
            else if (!sameSession && relay!.LastOutageMs is { } ms)
            {
                lastOutage = TimeSpan.FromMilliseconds(ms);
            }

            return previous with
            {
                Phase = relay!.Phase == ConnectionPhase.Connected && epoch > 0 ? ConnectionPhase.Resumed : relay.Phase,
                Epoch = epoch,
                Attempts = attempts,
                TotalLagged = lagged,
                Exhausted = exhausted,
                DownSince = null,
                UpSince = sameSession ? previous.UpSince ?? now : now,
                LastOutage = lastOutage,
                LastError = error,
            };
        }

        DateTimeOffset? cause = null;
        if (!inputs.BusUp)
        {
            cause = Earliest(cause, inputs.BusDownSince ?? now);
        }

        if (relay is not { IsUp: true })
        {
            cause = Earliest(cause, relay?.DownSince ?? relay?.PublishedAt ?? now);
        }

        if (!inputs.LeaseLive)
        {
            cause = Earliest(cause, inputs.LeaseLastSeen ?? now);
        }

        return previous with
        {
            Phase = everUp ? ConnectionPhase.Reconnecting : ConnectionPhase.Connecting,
            Epoch = epoch,
            Attempts = attempts,
            TotalLagged = lagged,
            Exhausted = exhausted,
            DownSince = previous.IsUp || previous.DownSince is null ? cause ?? now : previous.DownSince,
            UpSince = null,
            LastError = error,
        };
    }

    /// <summary>Equal apart from the version: nothing to publish.</summary>
    public static bool Same(LifecycleSnapshot a, LifecycleSnapshot b) => a with { Version = 0 } == b with { Version = 0 };

    private static DateTimeOffset Earliest(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x < b ? x : b;
}

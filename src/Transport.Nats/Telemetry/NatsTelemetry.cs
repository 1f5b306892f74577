using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Transport.Nats;

/// <summary>
/// The package's metrics: one process-wide <see cref="Meter"/> named <see cref="Name"/> whose observable
/// instruments report one measurement per live relay and per live consumer, tagged <c>transport.feed</c>
/// (and <c>transport.relay</c> for a relay). OpenTelemetry users add the meter by name.
/// </summary>
/// <remarks>
/// Relay: <c>transport.nats.relay.frames.read</c>, <c>.frames.acknowledged</c>, <c>.frames.dropped</c>,
/// <c>.frames.too_large</c>, <c>.publish.failures</c>, <c>.retries</c>, <c>.takeovers</c> (counters),
/// <c>transport.nats.relay.pending</c>, <c>.in_flight</c>, <c>.lag</c> (seconds), <c>.active</c> (gauges).
/// Consumer: <c>transport.nats.consumer.frames.delivered</c>, <c>.frames.lagged</c>, <c>.gaps</c>,
/// <c>.duplicates</c> (counters), <c>transport.nats.consumer.ring.depth</c> (gauge).
/// </remarks>
public static class NatsTelemetry
{
    /// <summary>The meter's name.</summary>
    public const string Name = "Transport.Nats";

    private static readonly Meter Meter = new(Name);
    private static readonly ConcurrentDictionary<NatsRelay, byte> Relays = new();
    private static readonly ConcurrentDictionary<NatsFeedConsumer, byte> Consumers = new();

    static NatsTelemetry()
    {
        RelayCounter("transport.nats.relay.frames.read", "{frame}", "Frames the relay read from its input.", s => s.FramesRead);
        RelayCounter("transport.nats.relay.frames.acknowledged", "{frame}", "Frames JetStream acknowledged.", s => s.FramesAcknowledged);
        RelayCounter("transport.nats.relay.frames.dropped", "{frame}", "Frames dropped by the outage buffer.", s => s.Dropped);
        RelayCounter("transport.nats.relay.frames.too_large", "{frame}", "Frames larger than the server's max_payload, dropped.", s => s.TooLarge);
        RelayCounter("transport.nats.relay.publish.failures", "{failure}", "Publishes that failed (refused, unacknowledged in time, bus down).", s => s.PublishFailures);
        RelayCounter("transport.nats.relay.retries", "{frame}", "Frames published again after a failure.", s => s.Retries);
        RelayCounter("transport.nats.relay.takeovers", "{takeover}", "Times the relay became active.", s => s.Takeovers);
        Meter.CreateObservableGauge("transport.nats.relay.pending", () => RelayMeasurements(s => s.Pending), "{frame}", "Frames read and not yet acknowledged.");
        Meter.CreateObservableGauge("transport.nats.relay.in_flight", () => RelayMeasurements(s => s.InFlight), "{frame}", "Frames published and awaiting acknowledgement.");
        Meter.CreateObservableGauge("transport.nats.relay.lag", () => RelayMeasurements(s => s.OldestPendingAge.TotalSeconds), "s", "Age of the oldest frame not yet acknowledged.");
        Meter.CreateObservableGauge("transport.nats.relay.active", () => RelayMeasurements(s => s.Role == RelayRole.Active ? 1 : 0), "{relay}", "1 while the relay holds the lease.");

        ConsumerCounter("transport.nats.consumer.frames.delivered", "{frame}", "Frames handed to the adapter.", s => s.Delivered);
        ConsumerCounter("transport.nats.consumer.frames.lagged", "{frame}", "The consumer's TotalLagged: frames lost before it, as signalled.", s => s.TotalLagged);
        ConsumerCounter("transport.nats.consumer.gaps", "{frame}", "Frames missing from the relay sequence.", s => s.GapFrames);
        ConsumerCounter("transport.nats.consumer.duplicates", "{frame}", "Frames discarded as already delivered (retries, redeliveries).", s => s.Duplicates);
        Meter.CreateObservableGauge("transport.nats.consumer.ring.depth", () => ConsumerMeasurements(s => (long)s.Buffered), "{frame}", "Frames buffered in the consumer's ring.");
    }

    internal static void Register(NatsRelay relay) => Relays[relay] = 0;

    internal static void Unregister(NatsRelay relay) => Relays.TryRemove(relay, out _);

    internal static void Register(NatsFeedConsumer consumer) => Consumers[consumer] = 0;

    internal static void Unregister(NatsFeedConsumer consumer) => Consumers.TryRemove(consumer, out _);

    private static void RelayCounter(string name, string unit, string description, Func<RelaySnapshot, long> value) =>
        Meter.CreateObservableCounter(name, () => RelayMeasurements(value), unit, description);

    private static void ConsumerCounter(string name, string unit, string description, Func<NatsFeedStats, long> value) =>
        Meter.CreateObservableCounter(name, () => ConsumerMeasurements(value), unit, description);

    private static IEnumerable<Measurement<T>> RelayMeasurements<T>(Func<RelaySnapshot, T> value)
        where T : struct
    {
        foreach (var relay in Relays.Keys)
        {
            var s = relay.Current;
            yield return new Measurement<T>(value(s), new KeyValuePair<string, object?>("transport.feed", s.Feed), new KeyValuePair<string, object?>("transport.relay", s.Relay));
        }
    }

    private static IEnumerable<Measurement<T>> ConsumerMeasurements<T>(Func<NatsFeedStats, T> value)
        where T : struct
    {
        foreach (var consumer in Consumers.Keys)
        {
            var s = consumer.Stats;
            yield return new Measurement<T>(value(s), new KeyValuePair<string, object?>("transport.feed", consumer.Feed));
        }
    }
}

using System.Diagnostics;
using Transport.WebSockets;

namespace Transport.Tests.Telemetry;

/// <summary>Down-cycle spans: one per outage (initial connect included), events inside, ended at the up-edge or terminal.</summary>
public sealed class TracingTests
{
    private static List<string?> Phases(Activity span) =>
        span.Events.Where(e => e.Name == TransportTelemetry.TransitionEvent)
            .Select(e => (string?)e.Tags.First(t => t.Key == TransportTelemetry.PhaseTag).Value).ToList();

    [Fact]
    [Trait("Invariant", "Telemetry.T1")]
    public void T1_one_span_per_down_cycle_ends_at_the_up_edge_or_terminal()
    {
        using var h = TelemetryHarness.Start();
        var connect = Assert.Single(h.Capture.Stopped); // the initial connect ended at Connected
        Assert.Equal(TransportTelemetry.DownCycleActivity, connect.OperationName);
        Assert.Equal(ActivityKind.Client, connect.Kind);
        Assert.Equal(ActivityStatusCode.Ok, connect.Status);
        Assert.Equal("Connected", connect.GetTagItem(TransportTelemetry.PhaseTag));

        h.Socket.Disconnect();
        h.Pump();
        h.Connection.Control.ReconnectTrigger.ForceReconnect("rotate");
        h.Pump();
        h.Shutdown();

        var spans = h.Capture.Stopped;
        Assert.Equal(4, spans.Count); // connect, two outages, the shutdown
        Assert.Equal(spans.Count, h.Capture.Started.Count);
        Assert.Equal(["Reconnecting", "Resumed"], Phases(spans[1]));
        Assert.Equal(["Reconnecting", "Resumed"], Phases(spans[2]));
        Assert.Equal(["Closed"], Phases(spans[3]));
        Assert.Contains(spans[1].Events, e => e.Name == TransportTelemetry.AttemptEvent);
        Assert.Equal(2L, spans[2].GetTagItem(TransportTelemetry.EpochTag));
        Assert.All(spans, s => Assert.Equal(ActivityStatusCode.Ok, s.Status));
    }

    [Fact]
    [Trait("Invariant", "Telemetry.T5")]
    public void T5_events_are_capped_per_span()
    {
        using var h = TelemetryHarness.Start(o => o.WithBackoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1), useJitter: false));
        h.Connector.FailNext(100, TransportException.Connection("refused"));

        h.Socket.Disconnect();
        h.Pump();
        for (var i = 0; i < 1000 && h.Now.Phase != ConnectionPhase.Resumed; i++) h.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);

        var outage = h.Capture.Stopped[1];
        Assert.Equal(TransportTelemetry.MaxEventsPerSpan, outage.Events.Count());
        Assert.True((int)outage.GetTagItem(TransportTelemetry.EventsDroppedTag)! > 0);
        Assert.Equal("Resumed", outage.GetTagItem(TransportTelemetry.PhaseTag));
    }

    [Fact]
    [Trait("Invariant", "Telemetry.T3")]
    public void Span_timestamps_come_from_the_injected_clock()
    {
        using var h = TelemetryHarness.Start();
        h.Advance(TimeSpan.FromSeconds(10));
        var downAt = h.Clock.GetUtcNow();
        h.Socket.Disconnect();
        h.Pump();

        h.Advance(TimeSpan.FromSeconds(42));

        var outage = h.Capture.Stopped[1];
        Assert.InRange(outage.StartTimeUtc - downAt.UtcDateTime, TimeSpan.Zero, TimeSpan.FromTicks(1)); // Activity may add a tick
        Assert.True(outage.Duration <= TimeSpan.FromSeconds(42));
        Assert.Equal(downAt, outage.Events.First().Timestamp); // the down-edge event, at the clock's instant
    }

    [Fact]
    public void Unrecoverable_ends_the_span_with_error_status_and_the_error_kind_and_status()
    {
        using var h = TelemetryHarness.Start(o => o.WithPermanentRetries(0), c => c.Next.Fails(TransportException.Auth(401)));

        Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
        var span = Assert.Single(h.Capture.Stopped);
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        var last = span.Events.Last();
        Assert.Equal("Unrecoverable", last.Tags.First(t => t.Key == TransportTelemetry.PhaseTag).Value);
        Assert.Equal("Auth", last.Tags.First(t => t.Key == TransportTelemetry.ErrorKindTag).Value);
        Assert.Equal(401, last.Tags.First(t => t.Key == TransportTelemetry.HttpStatusTag).Value);
    }

    [Fact]
    [Trait("Invariant", "Telemetry.T2")]
    public void T2_connect_does_not_change_the_callers_current_activity()
    {
        using var outer = new Activity("caller").Start();
        using var h = TelemetryHarness.Start();

        Assert.Same(outer, Activity.Current);
        var span = Assert.Single(h.Capture.Started);
        Assert.Equal(outer.TraceId, span.TraceId); // the initial connect is parented under the caller's trace
        h.Socket.Disconnect();
        h.Pump();
        Assert.NotEqual(outer.TraceId, h.Capture.Started[1].TraceId); // a later outage is its own trace
        h.Shutdown();
        Assert.Same(outer, Activity.Current);
    }
}

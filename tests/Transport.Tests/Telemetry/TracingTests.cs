using System.Diagnostics;
using Transport.WebSockets;

namespace Transport.Tests.Telemetry;

/// <summary>The connection span: one per connection, an event per transition, ended at the terminal phase.</summary>
public sealed class TracingTests
{
    [Fact]
    [Trait("Invariant", "Telemetry.T1")]
    public void T1_span_ends_at_the_terminal_phase_with_an_event_per_transition()
    {
        using var h = TelemetryHarness.Start();
        var span = Assert.Single(h.Capture.Started);
        Assert.Equal(TransportTelemetry.ConnectionActivity, span.OperationName);
        Assert.Equal(ActivityKind.Client, span.Kind);
        Assert.Empty(h.Capture.Stopped);

        h.Socket.Disconnect();
        h.Pump();
        h.Connection.Control.ReconnectTrigger.ForceReconnect("rotate");
        h.Pump();
        h.Shutdown();

        Assert.Same(span, Assert.Single(h.Capture.Stopped));
        var phases = span.Events.Select(e => (string?)e.Tags.First(t => t.Key == TransportTelemetry.PhaseTag).Value).ToList();
        Assert.Equal(["Connected", "Reconnecting", "Resumed", "Reconnecting", "Resumed", "Closed"], phases);
        Assert.All(span.Events, e => Assert.Equal(TransportTelemetry.TransitionEvent, e.Name));
        Assert.Equal(2L, span.Events.Last().Tags.First(t => t.Key == TransportTelemetry.EpochTag).Value);
        Assert.Equal(ActivityStatusCode.Ok, span.Status);
        Assert.Equal("Closed", span.GetTagItem(TransportTelemetry.PhaseTag));
    }

    [Fact]
    [Trait("Invariant", "Telemetry.T3")]
    public void Span_timestamps_come_from_the_injected_clock()
    {
        using var h = TelemetryHarness.Start();
        var start = h.Clock.GetUtcNow();

        h.Advance(TimeSpan.FromSeconds(42));
        h.Shutdown();

        var span = Assert.Single(h.Capture.Stopped);
        Assert.Equal(start.UtcDateTime, span.StartTimeUtc);
        Assert.Equal(TimeSpan.FromSeconds(42), span.Duration);
        Assert.Equal(start + TimeSpan.FromSeconds(42), span.Events.Last().Timestamp);
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
        Assert.Equal(outer.TraceId, span.TraceId); // parented under the caller's trace
        h.Shutdown();
        Assert.Same(outer, Activity.Current);
    }
}

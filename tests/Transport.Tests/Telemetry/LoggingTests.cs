using Microsoft.Extensions.Logging;

namespace Transport.Tests.Telemetry;

/// <summary>Every transition and failure is logged, with a stable event name and a sensible level.</summary>
public sealed class LoggingTests
{
    [Fact]
    public void Every_transition_of_a_full_life_is_logged()
    {
        using var h = TelemetryHarness.Start(
            o => o.WithIdleTimeouts(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(60)).WithReceiveRing(1, 1024),
            c =>
            {
                c.Next.Fails(TransportException.HandshakeRejected(503));
                c.Next.Succeeds();
            });

        h.Advance(TimeSpan.FromSeconds(1)); // backoff, attempt 2 succeeds: Connected
        h.Advance(TimeSpan.FromSeconds(10)); // Stale
        h.Socket.DeliverText("a");
        h.Socket.DeliverText("b"); // evicts "a": lagged
        h.Pump(); // back to Connected
        h.Socket.Disconnect();
        h.Pump(); // Reconnecting -> Resumed
        h.Connection.Control.ReconnectTrigger.ForceReconnect("rotate");
        h.Pump(); // Reconnecting -> Resumed
        h.Shutdown(); // Closed

        Assert.Equal(
            ["Starting", "Attempt", "AttemptFailed", "Attempt", "Up", "Stale", "StaleRecovered", "Lagged", "SessionEnded", "Attempt", "Up", "ReconnectRequested", "SessionEnded", "Attempt", "Up", "ShuttingDown", "Closed"],
            h.EventNames);

        var entries = h.Logs.Entries;
        Assert.All(entries, e => Assert.Equal("Transport.WebSockets.Connection." + h.Name, e.Category));
        Assert.All(entries, e => Assert.Contains(h.Name, e.Message));
        Assert.Equal(LogLevel.Warning, entries.Single(e => e.EventId.Name == "AttemptFailed").Level);
        Assert.Contains("http=503", entries.Single(e => e.EventId.Name == "AttemptFailed").Message);
        Assert.Equal(LogLevel.Warning, entries.Single(e => e.EventId.Name == "Stale").Level);
        var ended = entries.Where(e => e.EventId.Name == "SessionEnded").ToList();
        Assert.Equal([LogLevel.Warning, LogLevel.Information], ended.Select(e => e.Level));
        Assert.Contains("epoch 0", ended[0].Message);
        Assert.Contains("Resumed (epoch 2", entries.Last(e => e.EventId.Name == "Up").Message);
        Assert.Contains("lagged 1", entries.Last().Message);
    }

    [Fact]
    public void Unrecoverable_is_logged_as_an_error_with_the_cause()
    {
        using var h = TelemetryHarness.Start(o => o.WithPermanentRetries(1), c => c.FailNext(2, TransportException.Auth(403)));
        h.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
        var entry = h.Logs.Entries.Single(e => e.EventId.Name == "Unrecoverable");
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Contains("Auth http=403", entry.Message);
    }

    [Fact]
    public void Exhausted_is_logged_as_an_error()
    {
        using var h = TelemetryHarness.Start(o => o.WithMaxAttempts(2), c => c.FailNext(2, TransportException.Connection("refused")));
        h.Advance(TimeSpan.FromSeconds(1));

        Assert.True(h.Now.Exhausted);
        var entry = h.Logs.Entries.Single(e => e.EventId.Name == "Exhausted");
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Contains("MaxAttempts (2)", entry.Message);
    }

    [Theory]
    [InlineData(true, CloseCodes.GoingAway, LogLevel.Information)]
    [InlineData(true, CloseCodes.NormalClosure, LogLevel.Information)]
    [InlineData(false, CloseCodes.GoingAway, LogLevel.Warning)]
    [InlineData(true, CloseCodes.InternalError, LogLevel.Warning)]
    [Trait("Invariant", "Budget.B5")]
    public void A_venues_clean_close_after_data_is_logged_as_information(bool data, int code, LogLevel level)
    {
        using var h = TelemetryHarness.Start(o => o.WithStableAfter(TimeSpan.FromSeconds(30)));
        if (data)
        {
            h.Socket.DeliverText("tick");
        }

        h.Socket.DeliverClose(code, "connection lifetime reached");
        h.Pump();

        var entry = h.Logs.Entries.Single(e => e.EventId.Name == "SessionEnded");
        Assert.Equal(level, entry.Level);
        Assert.Contains($"close={code}", entry.Message);
    }

    [Fact]
    public void Close_by_peer_is_logged_with_its_code()
    {
        using var h = TelemetryHarness.Start();
        h.Socket.DeliverClose(4001, "maintenance");
        h.Pump();

        var entry = h.Logs.Entries.Single(e => e.EventId.Name == "SessionEnded");
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Contains("close=4001", entry.Message);
    }
}

using System.Diagnostics.Metrics;
using Transport.Mock;
using Transport.WebSockets;
using Transport.WebSockets.Telemetry;

namespace Transport.Tests.Telemetry;

/// <summary>The Meter's figures, measured with a MeterListener on a private Meter.</summary>
public sealed class MetricsTests
{
    [Fact]
    public void Three_data_frames_count_frames_and_payload_bytes_received()
    {
        using var h = TelemetryHarness.Start();

        h.Socket.DeliverText("a");
        h.Socket.DeliverText("bb");
        h.Socket.DeliverBinary([1, 2, 3]);
        h.Socket.DeliverPing(); // control frames are not data
        h.Pump();

        Assert.Equal(3, h.Capture.Sum(TransportTelemetry.FramesReceived));
        Assert.Equal(6, h.Capture.Sum(TransportTelemetry.BytesReceived));
    }

    [Fact]
    public void Sent_frames_and_bytes_count_data_and_pongs()
    {
        using var h = TelemetryHarness.Start();

        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("hello")));
        h.Socket.DeliverPing([9, 9]);
        h.Pump();

        Assert.Equal(2, h.Capture.Sum(TransportTelemetry.FramesSent));
        Assert.Equal(7, h.Capture.Sum(TransportTelemetry.BytesSent));
    }

    [Fact]
    public void Forced_eviction_counts_lagged_frames()
    {
        using var h = TelemetryHarness.Start(o => o.WithReceiveRing(2, 1024));

        for (var i = 0; i < 5; i++)
        {
            h.Socket.DeliverText("f" + i);
        }

        h.Pump();

        Assert.Equal(3, h.Capture.Sum(TransportTelemetry.FramesLagged));
        Assert.Equal(3, h.Now.TotalLagged);
        Assert.Equal(2, h.Capture.Observe(TransportTelemetry.RingDepth));
    }

    [Fact]
    public void Reconnect_counts_one_reconnect_two_attempts_and_the_time_down()
    {
        using var h = TelemetryHarness.Start(script: c =>
        {
            c.Next.Succeeds();
            c.Next.Fails(TransportException.Connection("refused"));
            c.Next.Succeeds();
        });

        h.Socket.Disconnect();
        h.Pump(); // attempt 2 fails at once; backoff 1 s
        Assert.Equal(ConnectionPhase.Reconnecting, h.Now.Phase);
        Assert.Equal(1, h.Capture.Observe(TransportTelemetry.ActiveConnections));
        Assert.Equal(0, h.Capture.Observe(TransportTelemetry.CurrentDownSeconds));

        h.Clock.Advance(TimeSpan.FromMilliseconds(500)); // gauges read the clock; no pump needed
        Assert.Equal(0.5, h.Capture.Observe(TransportTelemetry.CurrentDownSeconds));

        h.Advance(TimeSpan.FromMilliseconds(500)); // backoff ends, attempt 3 succeeds
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);

        Assert.Equal(1, h.Capture.Sum(TransportTelemetry.Reconnects));
        Assert.Equal(3, h.Capture.Sum(TransportTelemetry.ConnectAttempts));
        Assert.Equal(1, h.Capture.Count(TransportTelemetry.TimeDown));
        Assert.Equal(1.0, h.Capture.Sum(TransportTelemetry.TimeDown));
        Assert.Equal(0, h.Capture.Observe(TransportTelemetry.CurrentDownSeconds));
    }

    [Fact]
    public void Down_duration_advises_buckets_from_milliseconds_to_minutes()
    {
        using var h = TelemetryHarness.Start();
        Histogram<double>? histogram = null;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter, h.Capture.Meter) && instrument.Name == TransportTelemetry.TimeDown)
                {
                    histogram = (Histogram<double>)instrument;
                }
            },
        };
        listener.Start();

        var buckets = histogram?.Advice?.HistogramBucketBoundaries;

        Assert.NotNull(buckets);
        Assert.Equal(TransportTelemetry.DownDurationBuckets, buckets);
        Assert.True(buckets.Count(b => b < 5) >= 8, "an outage under 5 s must land in one of several buckets");
        Assert.Equal(0.001, buckets[0]);
        Assert.True(buckets[^1] >= 600, "minutes-long outages get their own buckets");
        Assert.Equal(buckets.Order(), buckets);
    }

    [Fact]
    public void Plain_reconnect_is_one_reconnect_and_two_attempts()
    {
        using var h = TelemetryHarness.Start();

        h.Socket.Disconnect();
        h.Pump();

        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(1, h.Capture.Sum(TransportTelemetry.Reconnects));
        Assert.Equal(2, h.Capture.Sum(TransportTelemetry.ConnectAttempts));
    }

    [Fact]
    public void Gauges_report_ring_depth_and_send_queue_depth_then_stop_after_shutdown()
    {
        // No connection yet: sends wait in the queue.
        using var h = TelemetryHarness.Start(script: c => c.Next.Hangs());
        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Text("q" + i)));
        }

        Assert.Equal(3, h.Capture.Observe(TransportTelemetry.SendQueueDepth));
        Assert.Equal(0, h.Capture.Observe(TransportTelemetry.RingDepth));

        h.Advance(TimeSpan.FromSeconds(5)); // connect timeout
        h.Advance(TimeSpan.FromSeconds(1)); // backoff, then the default outcome succeeds
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(0, h.Capture.Observe(TransportTelemetry.SendQueueDepth));

        h.Socket.DeliverText("x");
        h.Socket.DeliverText("y");
        h.Socket.DeliverText("z");
        h.Socket.DeliverText("w");
        h.Pump();
        Assert.Equal(4, h.Capture.Observe(TransportTelemetry.RingDepth));
        Assert.True(h.Connection.Source.TryRead(out _));
        Assert.Equal(3, h.Capture.Observe(TransportTelemetry.RingDepth));

        h.Shutdown();

        // A terminal connection leaves the gauges: nothing reported for it any more.
        Assert.Null(h.Capture.Observe(TransportTelemetry.RingDepth));
        Assert.Null(h.Capture.Observe(TransportTelemetry.ActiveConnections));
    }

    [Fact]
    public async Task Two_connectors_on_one_meter_share_one_instrument_of_each_name()
    {
        using var h = TelemetryHarness.Start();
        var (connector, clock, spawner) = MockHarness.Create();
        var second = new WebSocketTransportBuilder()
            .Configure(o => o.WithName("second").WithUri("ws://venue.test/other"))
            .UseLeaf(connector).WithTimeProvider(clock).WithSpawner(spawner).WithMeter(h.Capture.Meter)
            .Build();
        var connection = second.Start(); // returns at once; the actor runs when pumped
        spawner.RunUntilIdle();
        connector.Current!.DeliverText("z");
        h.Socket.DeliverText("a");
        spawner.RunUntilIdle();
        h.Pump();

        Assert.NotEmpty(h.Capture.Published);
        Assert.All(h.Capture.Published, p => Assert.Equal(1, p.Value));
        Assert.Same(TransportMetrics.For(h.Capture.Meter), TransportMetrics.For(h.Capture.Meter));
        Assert.Equal(1, h.Capture.Sum(TransportTelemetry.FramesReceived)); // only this connection's tag
        Assert.Equal(1, h.Capture.Observe(TransportTelemetry.RingDepth));

        _ = connection.Control.ShutdownAsync();
        spawner.RunUntilIdle();
    }
}

using System.Text;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Transport.Nats.Tests.Infrastructure;

namespace Transport.Nats.Tests.Integration;

[Collection(NatsCollection.Name)]
public sealed class RelayTests(NatsFixture nats)
{
    private string Url => nats.Server.Url;

    [Fact]
    [Trait("Invariant", "Relay.R1")]
    public async Task R1_frames_are_published_in_order_with_headers_and_consecutive_sequences()
    {
        var feed = TestSetup.NewFeed("r1");
        await using var harness = new RelayHarness(Url, feed, keySelector: f => f.Kind == FrameKind.Text ? f.GetText().Split(':')[0] : null);
        var venue = await harness.ActiveAsync();
        var time = TimeProvider.System;
        for (int i = 1; i <= 200; i++)
        {
            venue.Push((i % 10 == 0 ? Frame.Binary(new byte[] { 1, 2, (byte)i }) : Frame.Text($"{(i % 2 == 0 ? "BTC" : "ETH")}:{i}")).WithEpoch(0).WithReceivedAt(time.GetTimestamp()));
        }

        await harness.WaitAsync(s => s.FramesAcknowledged == 200, "s.FramesAcknowledged == 200");
        var stored = await Harness.ReadStreamAsync(Url, harness.Relay.Layout);
        Assert.Equal(200, stored.Count);
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), stored.Select(s => s.RelaySequence));
        Assert.All(stored, s => Assert.Equal(0, s.Epoch));
        Assert.All(stored, s => Assert.Equal(1, s.Generation));
        Assert.Equal($"transport.{feed}.frames.ETH", stored[0].Subject);
        Assert.Equal($"transport.{feed}.frames", stored[9].Subject); // binary: the selector gave no key
        Assert.Equal("binary", stored[9].Headers[RelayHeaders.Kind].ToString());
        Assert.Equal([1, 2, 10], stored[9].Data);
        Assert.Equal("ETH:1", Encoding.UTF8.GetString(stored[0].Data));
        long receivedAt = long.Parse(stored[0].Headers[RelayHeaders.ReceivedAt].ToString(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000 - receivedAt, 0, 60_000_000);
        Assert.Equal($"{feed}-1-1", stored[0].Headers[RelayHeaders.MessageId].ToString());
    }

    [Fact]
    [Trait("Invariant", "Relay.R2")]
    public async Task R2_in_flight_publishes_stay_within_the_bound()
    {
        var feed = TestSetup.NewFeed("r2");
        await using var harness = new RelayHarness(Url, feed, configure: o => o.MaxInFlight = 8);
        var venue = await harness.ActiveAsync();
        long maxInFlight = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                maxInFlight = Math.Max(maxInFlight, harness.Relay.Current.InFlight);
                await Task.Yield();
            }
        });
        for (int i = 0; i < 3_000; i++)
        {
            venue.Push(Frame.Binary(new byte[100]));
        }

        await harness.WaitAsync(s => s.FramesAcknowledged == 3_000, "s.FramesAcknowledged == 3_000");
        await sampling.CancelAsync();
        await sampler;
        Assert.InRange(maxInFlight, 1, 8);
    }

    [Fact]
    [Trait("Invariant", "Relay.R4")]
    [Trait("Invariant", "Relay.R5")]
    public async Task R4_an_outage_beyond_the_buffer_drops_the_oldest_and_counts_them()
    {
        await using var server = await NatsServer.StartNewAsync();
        var feed = TestSetup.NewFeed("r4");
        await using var harness = new RelayHarness(server.Url, feed, configure: o =>
        {
            o.BufferFrames = 100;
            o.MaxInFlight = 10;
            o.Lease.FenceAfter = TimeSpan.FromSeconds(20); // the outage must not fence the relay here
            o.Lease.Ttl = TimeSpan.FromSeconds(40);
        });
        var venue = await harness.ActiveAsync();
        venue.PushText("before");
        await harness.WaitAsync(s => s.FramesAcknowledged == 1, "s.FramesAcknowledged == 1");

        await server.KillAsync();
        for (int i = 0; i < 500; i++)
        {
            venue.PushText("during " + i);
        }

        // Relay.R5: the source is drained during the outage; Relay.R4: only BufferFrames are held.
        await harness.WaitAsync(s => s.FramesRead == 501, "s.FramesRead == 501");
        var during = harness.Relay.Current;
        Assert.Equal(400, during.Dropped);
        Assert.Equal(100, during.Pending);

        Assert.False(during.BusConnected);
        await server.StartAsync();
        await harness.WaitAsync(s => s.FramesAcknowledged == 101, "the buffered frames acknowledged after the restart");
        venue.PushText("after");
        await harness.WaitAsync(s => s.FramesAcknowledged == 102, "s.FramesAcknowledged == 102");
        var stored = await Harness.ReadStreamAsync(server.Url, harness.Relay.Layout);
        Assert.Equal(102, stored.Count);
        Assert.Equal("before", Encoding.UTF8.GetString(stored[0].Data));
        Assert.Equal("during 400", Encoding.UTF8.GetString(stored[1].Data)); // the newest 100 were kept
        Assert.Equal("after", Encoding.UTF8.GetString(stored[^1].Data));
        Assert.Equal(Enumerable.Range(1, 102).Select(i => (long)i), stored.Select(s => s.RelaySequence)); // no sequence gap: the drop is in the lag header
        Assert.Equal(0, stored[0].Lagged);
        Assert.All(stored.Skip(1), s => Assert.Equal(400, s.Lagged));
    }

    [Fact]
    [Trait("Invariant", "Relay.R6")]
    public async Task R6_nothing_published_carries_a_secret()
    {
        var feed = TestSetup.NewFeed("r6");
        const string secret = "venue-s3cret-token";
        await using var harness = new RelayHarness(Url, feed, configure: o => o.VenueEndpoint = $"wss://user:{secret}@venue.example/ws?token={secret}&listenKey={secret}");
        var venue = await harness.ActiveAsync();
        venue.GoDown(new TransportException(TransportErrorKind.Auth, "Handshake rejected (401).", httpStatus: 401));
        venue.GoUp();
        venue.PushText("tick");
        await harness.WaitAsync(s => s.FramesAcknowledged == 1, "s.FramesAcknowledged == 1");
        await Task.Delay(300); // a lifecycle tick

        await using var connection = new NatsConnection(new NatsOpts { Url = Url });
        var js = new NatsJSContext(connection);
        var kv = await new NatsKVContext(js).GetStoreAsync(harness.Relay.Layout.Bucket);
        var everything = new StringBuilder();
        foreach (var key in new[] { harness.Relay.Layout.LifecycleKey, harness.Relay.Layout.LeaseKey })
        {
            var entry = await kv.GetEntryAsync(key, serializer: NatsRawSerializer<byte[]>.Default);
            everything.AppendLine(Encoding.UTF8.GetString(entry.Value!));
        }

        foreach (var stored in await Harness.ReadStreamAsync(Url, harness.Relay.Layout))
        {
            everything.AppendLine(stored.Subject);
            foreach (var header in stored.Headers)
            {
                everything.AppendLine($"{header.Key}: {header.Value}");
            }
        }

        var text = everything.ToString();
        Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        Assert.Contains("wss://***@venue.example/ws?token=***", text, StringComparison.Ordinal); // the redacted endpoint
        Assert.Contains("Handshake rejected (401).", text, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, harness.Relay.Current.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_lifecycle_key_follows_the_venue_connection_and_ends_with_its_terminal_snapshot()
    {
        var feed = TestSetup.NewFeed("lc");
        await using var harness = new RelayHarness(Url, feed);
        var venue = await harness.ActiveAsync();
        await using var consumer = await NatsFeedConsumer.StartAsync(Harness.FeedOptions(Url, feed));
        await consumer.Lifecycle.WaitForPhaseAsync(ConnectionPhase.Connected).AsTask().WaitAsync(Harness.Bound);

        venue.GoDown();
        var down = await consumer.Lifecycle.WaitForPhaseAsync(ConnectionPhase.Reconnecting).AsTask().WaitAsync(Harness.Bound);
        Assert.Equal(venue.Current.DownSince, down.DownSince);
        venue.Lag(5);
        venue.GoUp();
        var resumed = await consumer.Lifecycle.WaitAsync(s => s.Phase == ConnectionPhase.Resumed && s.TotalLagged == 5).AsTask().WaitAsync(Harness.Bound);
        Assert.Equal(1, resumed.Epoch);
        Assert.NotNull(resumed.LastOutage);

        // The venue connection becomes unrecoverable: the relay publishes it, stops, and releases the lease;
        // the consumer is down with the error (not terminal: a relay may come back).
        venue.Terminate(ConnectionPhase.Unrecoverable, new TransportException(TransportErrorKind.Auth, "Handshake rejected (401).", httpStatus: 401));
        var error = await Assert.ThrowsAsync<TransportException>(() => harness.Running.WaitAsync(Harness.Bound));
        Assert.Equal(TransportErrorKind.Auth, error.Kind);
        var failed = await consumer.Lifecycle.WaitAsync(s => !s.IsUp && s.LastError?.Kind == TransportErrorKind.Auth).AsTask().WaitAsync(Harness.Bound);
        Assert.Equal(ConnectionPhase.Reconnecting, failed.Phase);
        Assert.Equal(RelayRole.Stopped, harness.Relay.Current.Role);
    }

    [Fact]
    public async Task A_server_without_JetStream_fails_the_start_with_a_clear_error()
    {
        await using var server = await NatsServer.StartNewAsync(jetStream: false);
        var relay = new NatsRelay(Harness.RelayOptions(server.Url, TestSetup.NewFeed("nojs"), "r"), _ => throw new InvalidOperationException("never opened"));
        var error = await Assert.ThrowsAsync<TransportException>(() => relay.RunAsync().WaitAsync(Harness.Bound));
        Assert.Equal(TransportErrorKind.Configuration, error.Kind);
        Assert.Contains("does not have JetStream enabled", error.Message, StringComparison.Ordinal);
        Assert.Contains("-js", error.Message, StringComparison.Ordinal);

        var consumer = await Assert.ThrowsAsync<TransportException>(() => NatsFeedConsumer.StartAsync(Harness.FeedOptions(server.Url, "x")).WaitAsync(Harness.Bound));
        Assert.Equal(TransportErrorKind.Configuration, consumer.Kind);
    }

    [Fact]
    public async Task An_unreachable_server_fails_the_start_naming_the_redacted_url()
    {
        var url = $"nats://relay:pa55word@127.0.0.1:{NatsServer.FreePort()}";
        var relay = new NatsRelay(Harness.RelayOptions(url, TestSetup.NewFeed("down"), "r"), _ => throw new InvalidOperationException("never opened"));
        var error = await Assert.ThrowsAsync<TransportException>(() => relay.RunAsync().WaitAsync(Harness.Bound));
        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.DoesNotContain("pa55word", error.Message, StringComparison.Ordinal);
        Assert.Contains("***@127.0.0.1", error.Message, StringComparison.Ordinal);
    }
}

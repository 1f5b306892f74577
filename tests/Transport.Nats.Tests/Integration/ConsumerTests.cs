using System.Text;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Transport.Nats.Tests.Infrastructure;

namespace Transport.Nats.Tests.Integration;

[Collection(NatsCollection.Name)]
public sealed class ConsumerTests(NatsFixture nats)
{
    private string Url => nats.Server.Url;

    private static async Task<List<(Frame Frame, FeedPosition Position)>> ReadAsync(NatsFeedConsumer consumer, int count)
    {
        var frames = new List<(Frame, FeedPosition)>();
        using var bound = new CancellationTokenSource(Harness.Bound);
        while (frames.Count < count && await consumer.Source.WaitToReadAsync(bound.Token))
        {
            while (frames.Count < count && consumer.Source.TryRead(out var frame))
            {
                frames.Add((frame, consumer.Position));
            }
        }

        return frames;
    }

    [Fact]
    public async Task Frames_keep_the_relays_epoch_and_receive_time_and_an_adapter_reads_them_through_the_connection_view()
    {
        var feed = TestSetup.NewFeed("meta");
        await using var harness = new RelayHarness(Url, feed);
        var venue = await harness.ActiveAsync();
        var time = TimeProvider.System;
        venue.Push(Frame.Text("old").WithEpoch(0).WithReceivedAt(time.GetTimestamp() - (5 * time.TimestampFrequency)));
        venue.GoDown();
        venue.GoUp();
        venue.Push(Frame.Binary(new byte[] { 9 }).WithEpoch(1).WithReceivedAt(time.GetTimestamp()));

        await using var consumer = await NatsFeedConsumer.StartAsync(Harness.FeedOptions(Url, feed));
        var connection = consumer.AsConnection();
        var frames = new List<Frame>();
        using var bound = new CancellationTokenSource(Harness.Bound);
        await foreach (var frame in connection.Source.WithCancellation(bound.Token))
        {
            frames.Add(frame);
            if (frames.Count == 2)
            {
                break;
            }
        }

        Assert.Equal("old", frames[0].GetText());
        Assert.Equal(0, frames[0].Epoch);
        Assert.InRange(time.GetElapsedTime(frames[0].ReceivedAt).TotalSeconds, 4.5, 30);
        Assert.Equal(FrameKind.Binary, frames[1].Kind);
        Assert.Equal(1, frames[1].Epoch);
        Assert.InRange(time.GetElapsedTime(frames[1].ReceivedAt).TotalSeconds, 0, 25);
        var up = await connection.Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Harness.Bound);
        Assert.Equal(ConnectionPhase.Resumed, up.Phase);
        Assert.Equal(1, up.Epoch);

        // The gateway owns the venue session: the view's sink refuses, clearly.
        Assert.Equal(SendStatus.Invalid, connection.Sink.TrySend(Frame.Text("subscribe")));
        var refused = await Assert.ThrowsAsync<TransportException>(() => connection.Sink.SendAsync(Frame.Text("subscribe")).AsTask());
        Assert.Equal(TransportErrorKind.Configuration, refused.Kind);

        await connection.Control.ShutdownAsync().WaitAsync(Harness.Bound);
        Assert.Equal(ConnectionPhase.Closed, consumer.Lifecycle.Current.Phase);
        await consumer.Lifecycle.Completion.WaitAsync(Harness.Bound);
    }

    [Fact]
    public async Task A_gap_in_the_relay_sequence_is_detected_and_signalled_and_duplicates_are_discarded()
    {
        var feed = TestSetup.NewFeed("gap");
        await using var harness = new RelayHarness(Url, feed);
        var venue = await harness.ActiveAsync();
        for (int i = 1; i <= 10; i++)
        {
            venue.PushText("f" + i);
        }

        await harness.WaitAsync(s => s.FramesAcknowledged == 10, "10 acknowledged");
        await using (var connection = new NatsConnection(new NatsOpts { Url = Url }))
        {
            var js = new NatsJSContext(connection);
            var stored = await Harness.ReadStreamAsync(Url, harness.Relay.Layout);
            await js.DeleteMessageAsync(harness.Relay.Layout.StreamName, new StreamMsgDeleteRequest { Seq = stored[4].StreamSequence, NoErase = true });

            // A redelivered copy of frame 7 (same relay sequence and generation, new message id).
            var copy = new NatsHeaders();
            foreach (var header in stored[6].Headers)
            {
                copy[header.Key] = header.Value;
            }

            copy[RelayHeaders.MessageId] = "copy";
            await js.PublishAsync(harness.Relay.Layout.FrameSubject, stored[6].Data, NatsRawSerializer<byte[]>.Default, headers: copy);
        }

        venue.PushText("f11");
        await harness.WaitAsync(s => s.FramesAcknowledged == 11, "11 acknowledged");
        await using var consumer = await NatsFeedConsumer.StartAsync(Harness.FeedOptions(Url, feed));
        var frames = await ReadAsync(consumer, 10);
        Assert.Equal(["f1", "f2", "f3", "f4", "f6", "f7", "f8", "f9", "f10", "f11"], frames.Select(f => f.Frame.GetText()));
        var lagged = await consumer.Lifecycle.WaitAsync(s => s.TotalLagged == 1).AsTask().WaitAsync(Harness.Bound);
        Assert.Equal(1, lagged.TotalLagged);
        Assert.Equal(1, consumer.Stats.GapFrames);
        Assert.Equal(1, consumer.Stats.Duplicates);
    }

    [Fact]
    public async Task A_slow_consumer_drops_the_oldest_in_its_ring_and_signals_the_lag()
    {
        var feed = TestSetup.NewFeed("slow");
        await using var harness = new RelayHarness(Url, feed);
        var venue = await harness.ActiveAsync();
        for (int i = 1; i <= 100; i++)
        {
            venue.PushText("f" + i);
        }

        await harness.WaitAsync(s => s.FramesAcknowledged == 100, "100 acknowledged");
        var options = Harness.FeedOptions(Url, feed);
        options.RingCapacityFrames = 10;
        await using var consumer = await NatsFeedConsumer.StartAsync(options);
        await TestSetup.EventuallyAsync(() => consumer.Stats.Received == 100, Harness.Bound, () => consumer.Stats.ToString());
        var lag = await consumer.Lifecycle.WaitAsync(s => s.TotalLagged == 90).AsTask().WaitAsync(Harness.Bound);
        Assert.Equal(90, lag.TotalLagged);
        var frames = await ReadAsync(consumer, 10);
        Assert.Equal(Enumerable.Range(91, 10).Select(i => "f" + i), frames.Select(f => f.Frame.GetText()));
        Assert.Equal(0, consumer.Source.Count);
    }

    [Theory]
    [InlineData(NatsConsumerKind.Ordered)]
    [InlineData(NatsConsumerKind.Durable)]
    public async Task A_restarted_consumer_resumes_after_its_position_without_a_gap(NatsConsumerKind kind)
    {
        var feed = TestSetup.NewFeed("resume");
        await using var harness = new RelayHarness(Url, feed);
        var venue = await harness.ActiveAsync();
        for (int i = 1; i <= 20; i++)
        {
            venue.PushText("f" + i);
        }

        var options = Harness.FeedOptions(Url, feed);
        options.Kind = kind;
        options.DurableName = kind == NatsConsumerKind.Durable ? "desk" : null;
        FeedPosition position;
        await using (var first = await NatsFeedConsumer.StartAsync(options))
        {
            var read = await ReadAsync(first, 12);
            Assert.Equal("f12", read[^1].Frame.GetText());
            position = first.Position;
            Assert.Equal(12, position.RelaySequence);
        }

        for (int i = 21; i <= 30; i++)
        {
            venue.PushText("f" + i);
        }

        if (kind == NatsConsumerKind.Ordered)
        {
            options.StartAfter = position.ToString();
        }

        await using var second = await NatsFeedConsumer.StartAsync(options);
        var rest = await ReadAsync(second, 18);
        Assert.Equal(Enumerable.Range(13, 18).Select(i => "f" + i), rest.Select(f => f.Frame.GetText()));
        Assert.Equal(0, second.Stats.GapFrames);
        Assert.Equal(30, second.Position.RelaySequence);
    }

    [Fact]
    [Trait("Invariant", "Relay.R3")]
    [Trait("Invariant", "Relay.R8")]
    public async Task NATS_restart_mid_stream_loses_no_frame_within_the_outage_bound_and_the_consumer_says_it_was_blind()
    {
        await using var server = await NatsServer.StartNewAsync();
        var feed = TestSetup.NewFeed("restart");
        await using var harness = new RelayHarness(server.Url, feed, configure: o =>
        {
            // The outage stays below FenceAfter: the relay keeps its venue connection and buffers (Relay.R3).
            o.Lease.FenceAfter = TimeSpan.FromSeconds(15);
            o.Lease.Ttl = TimeSpan.FromSeconds(30);
        });
        var venue = await harness.ActiveAsync();
        var options = Harness.FeedOptions(server.Url, feed);
        options.Nats.ReconnectWaitMax = TimeSpan.FromMilliseconds(200);
        await using var consumer = await NatsFeedConsumer.StartAsync(options);
        var phases = new List<ConnectionPhase>();
        using var _ = consumer.Lifecycle.Subscribe(new Observer(s => { lock (phases) { phases.Add(s.Phase); } }));
        await consumer.Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Harness.Bound);

        using var pushing = new CancellationTokenSource();
        int pushed = 0;
        var producer = Task.Run(async () =>
        {
            while (!pushing.IsCancellationRequested)
            {
                venue.PushText("f" + Interlocked.Increment(ref pushed));
                await Task.Delay(2);
            }
        });

        var delivered = new List<string>();
        var reader = Task.Run(async () =>
        {
            await foreach (var frame in consumer.Source)
            {
                lock (delivered)
                {
                    delivered.Add(frame.GetText());
                }
            }
        });

        await TestSetup.EventuallyAsync(() => Volatile.Read(ref pushed) > 200, Harness.Bound, () => "frames pushed");
        await server.KillAsync();
        await consumer.Lifecycle.WaitAsync(s => !s.IsUp).AsTask().WaitAsync(Harness.Bound);
        await Task.Delay(500);
        await server.StartAsync();
        await consumer.Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Harness.Bound);
        await TestSetup.EventuallyAsync(() => Volatile.Read(ref pushed) > 600, Harness.Bound, () => "frames pushed after the restart");
        await pushing.CancelAsync();
        await producer;
        int total = Volatile.Read(ref pushed);
        await harness.WaitAsync(s => s.FramesAcknowledged == total, $"{total} acknowledged");
        await TestSetup.EventuallyAsync(() => { lock (delivered) { return delivered.Count >= total; } }, Harness.Bound, () => $"{delivered.Count} of {total} delivered; {consumer.Stats}");

        lock (delivered)
        {
            Assert.Equal(Enumerable.Range(1, total).Select(i => "f" + i), delivered);
        }

        Assert.Equal(0, consumer.Stats.GapFrames);
        Assert.Equal(0, consumer.Lifecycle.Current.TotalLagged);
        Assert.Equal(0, harness.Relay.Current.Dropped);
        lock (phases)
        {
            Assert.Contains(ConnectionPhase.Reconnecting, phases); // blind during the restart, and said so
        }

        await consumer.DisposeAsync();
        await reader.WaitAsync(Harness.Bound);
    }

    [Fact]
    public async Task A_stopped_relay_releases_its_lease_and_the_consumer_goes_down_at_once()
    {
        var feed = TestSetup.NewFeed("stop");
        var harness = new RelayHarness(Url, feed);
        await harness.ActiveAsync();
        await using var consumer = await NatsFeedConsumer.StartAsync(Harness.FeedOptions(Url, feed));
        await consumer.Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Harness.Bound);
        var started = Environment.TickCount64;
        await harness.DisposeAsync();
        var down = await consumer.Lifecycle.WaitAsync(s => !s.IsUp).AsTask().WaitAsync(Harness.Bound);
        Assert.Equal(ConnectionPhase.Reconnecting, down.Phase);
        Assert.NotNull(down.DownSince);
        Assert.InRange(Environment.TickCount64 - started, 0, 5_000);
    }

    private sealed class Observer(Action<LifecycleSnapshot> next) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(LifecycleSnapshot value) => next(value);
    }
}

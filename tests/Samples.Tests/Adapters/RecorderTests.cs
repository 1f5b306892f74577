using TradingAdapters;
using TradingAdapters.Recording;
using Transport;
using Transport.WebSockets;
using VenueSimulator;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Adapters;

/// <summary>A recorder beside the live adapter through the fan-out, over the simulator and the full stack.</summary>
public sealed class RecorderTests
{
    [Theory]
    [MemberData(nameof(AdapterKinds.Both), MemberType = typeof(AdapterKinds))]
    public async Task The_recorder_writes_every_frame_the_adapter_sees_on_its_own_subscriber(string kind)
    {
        var sink = new StringWriter();
        await using var feed = await Feed.StartAsync(kind, TextWriter.Synchronized(sink), recorderCapacity: 100_000);

        await Eventually.HoldsAsync(feed.Adapter.Counters, () => feed.Adapter.Book.Snapshot().All(t => t.Live && t.LastSeq >= 20) && feed.Recorded.Recorder.Recorded >= 50, "ticks live and recorded");
        await feed.StopAsync();

        var recorder = feed.Recorded.Recorder.Stats;
        var live = feed.Recorded.Live.Stats;
        Assert.Equal(recorder.Offered, recorder.Delivered + recorder.Dropped + recorder.Buffered);
        Assert.Equal(0, recorder.Dropped);
        Assert.Equal(0, live.Dropped);
        Assert.Equal(feed.Recorded.FanOut.FramesRead, recorder.Offered);                 // both saw every frame the pump read
        Assert.Equal(feed.Recorded.FanOut.FramesRead, live.Offered);
        Assert.Equal(live.Delivered, feed.Adapter.Counters.Frames);                      // the adapter handled exactly what it was given

        var lines = sink.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(feed.Recorded.Recorder.Recorded, lines.Length);
        Assert.All(lines, l => Assert.Equal("0", l.Split('\t')[0]));                     // epoch of every frame
        foreach (var topic in new[] { Btc, Eth })
        {
            Assert.Contains(lines, l => l.Contains($"\"topic\":\"{topic}\"", StringComparison.Ordinal) && l.Contains("\"type\":\"tick\"", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_stalled_recorder_drops_for_itself_only_and_counts_it_while_the_adapter_keeps_every_tick()
    {
        var stalled = new StalledWriter();
        await using var feed = await Feed.StartAsync(AdapterKinds.Binance, stalled, recorderCapacity: 50);

        // The recorder's sink never returns; the adapter must keep ticking in sequence meanwhile.
        await Eventually.HoldsAsync(feed.Adapter.Counters, () => feed.Recorded.Recorder.Dropped >= 100 && feed.Adapter.Book.Snapshot().All(t => t.Live && t.LastSeq >= 200), "recorder dropping while ticks flow");
        var recorder = feed.Recorded.Recorder.Stats;
        Assert.Equal(0, feed.Recorded.Recorder.Recorded);
        Assert.True(recorder.Buffered <= 50, recorder.ToString());
        Assert.Equal(0, feed.Recorded.Live.Stats.Dropped);
        Assert.Equal(0, feed.Adapter.Counters.Gaps);
        Assert.Equal(0, feed.Lifecycle.TotalLagged);

        stalled.Release();
        await feed.StopAsync();
        recorder = feed.Recorded.Recorder.Stats;
        Assert.Equal(recorder.Offered, recorder.Delivered + recorder.Dropped + recorder.Buffered);
        Assert.True(recorder.Dropped >= 100, recorder.ToString());
    }

    /// <summary>A sink whose writes wait until released (a full disk, a slow network share).</summary>
    private sealed class StalledWriter : TextWriter
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public void Release() => _release.TrySetResult();

        public override Task WriteLineAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default) => _release.Task.WaitAsync(cancellationToken);

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class Feed : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _run = Task.CompletedTask;

        private Feed(VenueSimulatorHost host, ReconnectingConnection connection, FeedAdapter adapter, RecordedFeed recorded)
        {
            Host = host;
            Connection = connection;
            Adapter = adapter;
            Recorded = recorded;
        }

        public VenueSimulatorHost Host { get; }

        public ReconnectingConnection Connection { get; }

        public FeedAdapter Adapter { get; }

        public RecordedFeed Recorded { get; }

        public LifecycleSnapshot Lifecycle => Connection.Lifecycle.Current;

        public static async Task<Feed> StartAsync(string kind, TextWriter sink, int recorderCapacity)
        {
            var host = await Simulator.SimulatorDefaults.StartAsync();
            var adapter = AdapterKinds.Create(kind, [Btc, Eth])();
            var connector = new WebSocketTransportBuilder()
                .Configure(o => o.WithUri(host.WebSocketUri).WithBackoff(TimeSpan.Zero, TimeSpan.FromMilliseconds(200), useJitter: false))
                .WithSessionInitializer(adapter)
                .Build();
            var connection = connector.Start();
            var feed = new Feed(host, connection, adapter, RecordedFeed.Start(connection, adapter, sink, recorderCapacity));
            feed._run = feed.Recorded.RunAsync(feed._stop.Token);
            return feed;
        }

        /// <summary>Quiesces: stops the fan-out's pump, then lets the adapter and the recorder drain what they were given and end.</summary>
        public async Task StopAsync()
        {
            await Recorded.DisposeAsync();
            await _run.WaitAsync(Eventually.Bound);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await StopAsync();
            await Connection.Control.ShutdownAsync().WaitAsync(Eventually.Bound);
            await Host.DisposeAsync();
            _stop.Dispose();
        }
    }
}

using TradingAdapters;
using Transport;
using Transport.WebSockets;
using VenueSimulator;

namespace Samples.Tests.Adapters;

/// <summary>
/// A simulator, a real connection through the full stack, and an adapter running over it.
/// Disposing stops the adapter, shuts the connection down and stops the simulator.
/// </summary>
internal sealed class LiveFeed : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task _run = Task.CompletedTask;

    private LiveFeed(VenueSimulatorHost host, ReconnectingConnection connection, FeedAdapter adapter)
    {
        Host = host;
        Connection = connection;
        Adapter = adapter;
    }

    public VenueSimulatorHost Host { get; }

    public ReconnectingConnection Connection { get; }

    public FeedAdapter Adapter { get; }

    public LifecycleSnapshot Lifecycle => Connection.Lifecycle.Current;

    public static async Task<LiveFeed> StartAsync(
        SimulatorOptions simulator,
        Func<FeedAdapter> adapter,
        Action<TransportOptionsBuilder>? transport = null)
    {
        var host = await VenueSimulatorHost.StartAsync(simulator);
        var feedAdapter = adapter();
        var connector = new WebSocketTransportBuilder()
            .Configure(o =>
            {
                o.WithUri(host.WebSocketUri).WithBackoff(TimeSpan.Zero, TimeSpan.FromMilliseconds(200), useJitter: false);
                transport?.Invoke(o);
            })
            .WithSessionInitializer(feedAdapter) // replay on every new socket, before queued frames and the up-edge
            .Build();
        var connection = connector.Start();
        var feed = new LiveFeed(host, connection, feedAdapter);
        feed._run = feed.Adapter.RunAsync(connection, feed._stop.Token);
        return feed;
    }

    /// <summary>Every topic is live on <paramref name="epoch"/> and has at least <paramref name="seq"/> ticks there.</summary>
    public bool AllLive(long epoch, long seq = 3) =>
        Adapter.Book.Snapshot().All(t => t.Live && t.Epoch == epoch && t.LastSeq >= seq);

    public Task WaitAllLiveAsync(long epoch, long seq = 3) =>
        Eventually.HoldsAsync(Adapter.Counters, () => AllLive(epoch, seq), () => $"all topics live on epoch {epoch} with seq >= {seq}; connection {Lifecycle}; venue closes for rate {Host.Stats.Disconnects(DisconnectReason.RateLimited)}; adapter run {_run.Status} {_run.Exception?.GetBaseException()}; now {string.Join(", ", Adapter.Book.Snapshot())}");

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run.WaitAsync(Eventually.Bound);
        await Connection.Control.ShutdownAsync().WaitAsync(Eventually.Bound);
        await Host.DisposeAsync();
        _stop.Dispose();
    }
}

using Transport;
using Transport.WebSockets.FanOut;

namespace TradingAdapters.Recording;

/// <summary>
/// An adapter and a recorder reading one connection's feed through a <see cref="FrameFanOut"/>: the
/// live adapter on one subscriber, the recorder on another with its own bound. The socket and the
/// adapter never wait for the recorder; when the recorder's sink is slow, only the recorder drops
/// (its oldest frames, counted in <see cref="FeedRecorder.Dropped"/>).
/// </summary>
/// <example>
/// <code>
/// await using var feed = RecordedFeed.Start(connection, adapter, File.CreateText("feed.tsv"));
/// await feed.RunAsync(cancellationToken);
/// </code>
/// </example>
public sealed class RecordedFeed : IAsyncDisposable
{
    /// <summary>The live subscriber's bound: as deep as the default receive ring, so the adapter itself never drops here in practice (a drop would show as a sequence gap and a resubscribe).</summary>
    public const int LiveCapacityFrames = 100_000;

    private readonly ReconnectingConnection _connection;
    private readonly FeedAdapter _adapter;

    private RecordedFeed(ReconnectingConnection connection, FeedAdapter adapter, FrameFanOut fanOut, FanOutSubscriber live, FeedRecorder recorder)
    {
        _connection = connection;
        _adapter = adapter;
        FanOut = fanOut;
        Live = live;
        Recorder = recorder;
    }

    /// <summary>The fan-out over the connection's source.</summary>
    public FrameFanOut FanOut { get; }

    /// <summary>The adapter's subscriber.</summary>
    public FanOutSubscriber Live { get; }

    /// <summary>The recorder.</summary>
    public FeedRecorder Recorder { get; }

    /// <summary>Attaches the live adapter and a recorder writing to <paramref name="sink"/>, then starts the fan-out.</summary>
    /// <param name="connection">The connection (its session initializer is the adapter).</param>
    /// <param name="adapter">The live consumer.</param>
    /// <param name="sink">Where the recorder writes.</param>
    /// <param name="recorderCapacityFrames">The recorder's own queue bound (drop-oldest beyond it).</param>
    /// <returns>The running feed; call <see cref="RunAsync"/>.</returns>
    public static RecordedFeed Start(ReconnectingConnection connection, FeedAdapter adapter, TextWriter sink, int recorderCapacityFrames = 10_000)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(adapter);
        var fanOut = connection.Source.FanOut();
        var live = fanOut.Subscribe(new FanOutSubscriberOptions { Name = adapter.Name, CapacityFrames = LiveCapacityFrames });
        var recorder = new FeedRecorder(fanOut.Subscribe(new FanOutSubscriberOptions { Name = "recorder", CapacityFrames = recorderCapacityFrames }), sink, adapter.Counters.Changed);
        fanOut.Start();
        return new RecordedFeed(connection, adapter, fanOut, live, recorder);
    }

    /// <summary>Runs the adapter and the recorder until <paramref name="cancellationToken"/> fires or the connection ends.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_adapter.RunAsync(_connection, Live, cancellationToken), Recorder.RunAsync(cancellationToken));

    /// <summary>Stops the fan-out (the connection is the caller's).</summary>
    public ValueTask DisposeAsync() => FanOut.DisposeAsync();
}

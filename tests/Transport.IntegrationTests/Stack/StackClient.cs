using System.Diagnostics;
using System.Diagnostics.Metrics;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Stack;

/// <summary>
/// The full stack under test (WebSocketTransportBuilder, default ClientWebSocket leaf, TimeProvider.System,
/// ThreadPoolSpawner) plus the instruments a test needs to judge it: a consumer that records every
/// delivered feed frame, the frames the actor read off its sockets (its own telemetry counter, through a
/// private Meter), and the timestamp of every connect attempt (the auth source is called once per attempt).
/// </summary>
internal sealed class StackClient : IAsyncDisposable
{
    // A bound, not a timing: it only fails on a real hang. 15 s was once exactly the length of a
    // test-environment stall on a loaded 2-core machine (TestAssemblySetup), so it is well above that.
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private readonly Meter _meter;
    private readonly MeterListener _listener;
    private readonly Lock _lock = new();
    private readonly List<FeedFrame> _delivered = [];
    private readonly Dictionary<int, int> _perConnection = [];
    private readonly List<long> _attemptTimestamps = [];
    private readonly TaskCompletionSource _consumerGate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _consumer = Task.CompletedTask;
    private Exception? _sourceError;
    private long _framesRead;
    private int _minLength = int.MaxValue;
    private int _maxLength;
    private int _readBeforeEdge;
    private string? _firstReadBeforeEdge;
    private int _lastConnection;

    private StackClient(Meter meter)
    {
        _meter = meter;
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, _meter) && instrument.Name == TransportTelemetry.FramesReceived)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
        {
            Interlocked.Add(ref _framesRead, value);
            Changed.Pulse();
        });
        _listener.Start();
    }

    public ReconnectingConnection Connection { get; private set; } = null!;

    public ILifecycleChannel Lifecycle => Connection.Lifecycle;

    public LifecycleSnapshot Current => Connection.Lifecycle.Current;

    /// <summary>Pulsed whenever the actor reads a frame, the consumer delivers one, or the consumer ends.</summary>
    public ChangeSignal Changed { get; } = new();

    /// <summary>Data frames the actor read from its sockets (the transport.frames.received counter).</summary>
    public long FramesRead => Interlocked.Read(ref _framesRead);

    public IReadOnlyList<FeedFrame> Delivered
    {
        get
        {
            lock (_lock)
            {
                return [.. _delivered];
            }
        }
    }

    public int DeliveredCount
    {
        get
        {
            lock (_lock)
            {
                return _delivered.Count;
            }
        }
    }

    /// <summary>Frames of server connection <paramref name="connection"/> delivered so far.</summary>
    public int DeliveredOn(int connection)
    {
        lock (_lock)
        {
            return _perConnection.GetValueOrDefault(connection);
        }
    }

    /// <summary>The server connection of the newest frame delivered (0 before the first).</summary>
    public int LastConnection
    {
        get
        {
            lock (_lock)
            {
                return _lastConnection;
            }
        }
    }

    /// <summary>The shortest and longest payload delivered (a truncated frame would show up here).</summary>
    public (int Min, int Max) PayloadLengths
    {
        get
        {
            lock (_lock)
            {
                return (_minLength, _maxLength);
            }
        }
    }

    public bool ConsumerEnded => _consumer.IsCompleted;

    /// <summary>The error the source ended with, if any.</summary>
    public Exception? SourceError => Volatile.Read(ref _sourceError);

    /// <summary>Stopwatch timestamps of every connect attempt, in order.</summary>
    public IReadOnlyList<long> AttemptTimestamps
    {
        get
        {
            lock (_lock)
            {
                return [.. _attemptTimestamps];
            }
        }
    }

    /// <summary>
    /// Builds and connects. Defaults: backoff 10-200 ms without jitter, connect timeout 2 s, close timeout 2 s.
    /// <paramref name="token"/> (if given) is stamped as a bearer token on every attempt.
    /// </summary>
    public static async Task<StackClient> StartAsync(
        Uri uri,
        Action<TransportOptionsBuilder>? configure = null,
        Func<string>? token = null,
        bool startConsumer = true,
        Action<WebSocketTransportBuilder>? builder = null)
    {
        var client = new StackClient(new Meter("Transport.IntegrationTests.Stack." + Guid.NewGuid().ToString("N")));
        var transport = new WebSocketTransportBuilder()
            .Configure(o =>
            {
                o.WithName("stack-" + Guid.NewGuid().ToString("N")[..8])
                    .WithUri(uri)
                    .WithBackoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(200), useJitter: false)
                    .WithConnectTimeout(TimeSpan.FromSeconds(2))
                    .WithCloseTimeout(TimeSpan.FromSeconds(2));
                configure?.Invoke(o);
            })
            .WithAuth(AuthSources.From((request, _, _) =>
            {
                lock (client._lock)
                {
                    client._attemptTimestamps.Add(Stopwatch.GetTimestamp());
                }

                if (token is not null)
                {
                    request.Headers["Authorization"] = "Bearer " + token();
                }

                return ValueTask.CompletedTask;
            }))
            .WithMeter(client._meter);
        builder?.Invoke(transport);
        client.Connection = await transport.Build().ConnectAsync().ConfigureAwait(false);
        client._consumer = client.ConsumeAsync();
        if (startConsumer)
        {
            client.ReleaseConsumer();
        }

        return client;
    }

    /// <summary>Lets a consumer created stalled start reading.</summary>
    public void ReleaseConsumer() => _consumerGate.TrySetResult();

    public Task<LifecycleSnapshot> WaitAsync(Func<LifecycleSnapshot, bool> predicate) =>
        Lifecycle.WaitAsync(predicate).AsTask().WaitAsync(Bound);

    public Task<LifecycleSnapshot> WaitUpAsync(long epoch) =>
        WaitAsync(s => s.IsUp && s.Epoch == epoch);

    /// <summary>Waits until at least <paramref name="count"/> frames of server connection <paramref name="connection"/> were delivered.</summary>
    public Task WaitForFramesAsync(int connection, int count) =>
        Changed.WaitUntilAsync(() => DeliveredOn(connection) >= count, Bound, $"{count} frames of connection {connection} (delivered {DeliveredCount}, {Current}; pool threads {ThreadPool.ThreadCount}, pending {ThreadPool.PendingWorkItemCount})");

    /// <summary>Shuts down and waits for the consumer to drain what was still buffered and end.</summary>
    public async Task ShutdownAsync()
    {
        await Connection.Control.ShutdownAsync().WaitAsync(Bound).ConfigureAwait(false);
        ReleaseConsumer();
        await _consumer.WaitAsync(Bound).ConfigureAwait(false);
    }

    /// <summary>
    /// After <see cref="ShutdownAsync"/>: every frame read from a socket was delivered or counted as lagged
    /// (the conservation law), and per server connection the sequence is strictly increasing (no
    /// duplicate, no reordering); with no lag the delivered frames are also gap-free from 0, including
    /// those the server sent during the close handshake (nothing silently lost).
    /// </summary>
    public void AssertConservedAndOrdered()
    {
        var final = Current;
        Assert.True(final.IsTerminal, $"not shut down: {final}");
        var delivered = Delivered;
        Assert.True(Volatile.Read(ref _readBeforeEdge) == 0, $"{_readBeforeEdge} frames read before their up-edge; first: {Volatile.Read(ref _firstReadBeforeEdge)}");
        Assert.Equal(FramesRead, delivered.Count + final.TotalLagged);
        AssertOrdered(delivered, gapFree: final.TotalLagged == 0);
    }

    public static void AssertOrdered(IReadOnlyList<FeedFrame> delivered, bool gapFree)
    {
        var last = new Dictionary<int, long>();
        var previousConnection = 0;
        foreach (var frame in delivered)
        {
            // Frames of an older connection never follow a newer one's.
            Assert.True(frame.Connection >= previousConnection, $"connection {frame.Connection} after {previousConnection}");
            previousConnection = frame.Connection;
            if (last.TryGetValue(frame.Connection, out var previous))
            {
                Assert.True(frame.Sequence > previous, $"connection {frame.Connection}: seq {frame.Sequence} after {previous} (duplicate or reorder)");
                if (gapFree)
                {
                    Assert.True(frame.Sequence == previous + 1, $"connection {frame.Connection}: gap {previous} -> {frame.Sequence}");
                }
            }
            else if (gapFree)
            {
                Assert.True(frame.Sequence == 0, $"connection {frame.Connection} starts at {frame.Sequence}");
            }

            last[frame.Connection] = frame.Sequence;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Connection.DisposeAsync().AsTask().WaitAsync(Bound).ConfigureAwait(false);
            ReleaseConsumer();
            await _consumer.WaitAsync(Bound).ConfigureAwait(false);
        }
        finally
        {
            _listener.Dispose();
            _meter.Dispose();
        }
    }

    private async Task ConsumeAsync()
    {
        await _consumerGate.Task.ConfigureAwait(false);
        try
        {
            await foreach (var frame in Connection.Source.ConfigureAwait(false))
            {
                // Session.S9, checked on every read over real sockets: the frame's up-edge is already published.
                var seen = Connection.Lifecycle.Current;
                if ((seen.Epoch < frame.Epoch || seen.Phase == ConnectionPhase.Connecting) && Interlocked.Increment(ref _readBeforeEdge) == 1)
                {
                    Volatile.Write(ref _firstReadBeforeEdge, $"a frame of epoch {frame.Epoch} was read while the lifecycle showed {seen}");
                }

                var decoded = FeedFrame.Decode(frame.Payload.Span);
                lock (_lock)
                {
                    _delivered.Add(decoded);
                    _minLength = Math.Min(_minLength, frame.Length);
                    _maxLength = Math.Max(_maxLength, frame.Length);
                    _perConnection[decoded.Connection] = _perConnection.GetValueOrDefault(decoded.Connection) + 1;
                    _lastConnection = decoded.Connection;
                }

                Changed.Pulse();
            }
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _sourceError, ex);
        }
        finally
        {
            Changed.Pulse();
        }
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using Transport.Testing;

namespace Transport.IntegrationTests.Stack;

/// <summary>
/// A <see cref="LoopbackServer"/> that behaves like a market-data venue: every accepted connection gets a
/// paced stream of sequence-numbered text frames (<see cref="FeedFrame"/>), and whatever the client sends
/// is recorded. A test may script a particular connection number differently (reject it, speak raw
/// hostile frames) with <see cref="Script"/>.
/// </summary>
/// <remarks>
/// The pacing (a burst every few milliseconds) simulates a feed; tests never wait on it, only on
/// conditions. Counters: frames sent per connection, client messages, the close code each connection saw,
/// and connections currently open (0 again after the client goes away: no leak).
/// </remarks>
internal sealed class FeedServer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<int, Func<ServerSession, Task>> _scripts = new();
    private readonly ConcurrentDictionary<int, long> _sent = new();
    private readonly ConcurrentDictionary<int, int?> _closeCodes = new();
    private readonly ConcurrentQueue<(int Connection, string Text)> _received = new();
    private LoopbackServer _server = null!;
    private int _open;

    private FeedServer(int frameBytes, int burst, TimeSpan interval)
    {
        FrameBytes = frameBytes;
        Burst = burst;
        Interval = interval;
    }

    public int FrameBytes { get; }

    public int Burst { get; }

    public TimeSpan Interval { get; }

    /// <summary>Pulsed on every counter change.</summary>
    public ChangeSignal Changed { get; } = new();

    public Uri Uri => _server.WebSocketUri;

    public IPEndPoint EndPoint => new(IPAddress.Loopback, _server.WebSocketUri.Port);

    public IReadOnlyList<ReceivedHandshake> Handshakes => _server.Handshakes;

    public int ConnectionCount => _server.ConnectionCount;

    public int OpenConnections => Volatile.Read(ref _open);

    public IReadOnlyCollection<Exception> HandlerErrors => _server.HandlerErrors;

    public IReadOnlyList<(int Connection, string Text)> Received => [.. _received];

    public static async Task<FeedServer> StartAsync(int frameBytes = 64, int burst = 10, TimeSpan? interval = null)
    {
        var feed = new FeedServer(frameBytes, burst, interval ?? TimeSpan.FromMilliseconds(5));
        feed._server = await LoopbackServer.StartAsync(feed.HandleAsync).ConfigureAwait(false);
        return feed;
    }

    /// <summary>Runs <paramref name="script"/> instead of the feed for connection number <paramref name="connection"/>.</summary>
    public void Script(int connection, Func<ServerSession, Task> script) => _scripts[connection] = script;

    public long SentOn(int connection) => _sent.GetValueOrDefault(connection);

    public int? CloseCodeSeenOn(int connection) => _closeCodes.GetValueOrDefault(connection);

    public bool SawCloseOn(int connection) => _closeCodes.ContainsKey(connection);

    /// <summary>Records the close code a scripted connection saw (null: dropped without one).</summary>
    public void RecordClose(int connection, int? code)
    {
        _closeCodes[connection] = code;
        Changed.Pulse();
    }

    public Task WaitUntilAsync(Func<FeedServer, bool> condition, TimeSpan timeout, string what) =>
        Changed.WaitUntilAsync(() => condition(this), timeout, what);

    public Task<ServerSession> WaitForConnectionAsync(int n) => _server.WaitForConnectionAsync(n);

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private async Task HandleAsync(ServerSession session)
    {
        Interlocked.Increment(ref _open);
        Changed.Pulse();
        try
        {
            if (_scripts.TryRemove(session.Number, out var script))
            {
                await script(session).ConfigureAwait(false);
            }
            else
            {
                await FeedAsync(session).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _open);
            Changed.Pulse();
        }
    }

    private async Task FeedAsync(ServerSession session)
    {
        await session.AcceptAsync().ConfigureAwait(false);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(session.Aborted);
        var streaming = StreamAsync(session, stop.Token);
        int? closeCode = null;
        var closed = false;
        try
        {
            while (true)
            {
                var message = await session.ReceiveAsync().ConfigureAwait(false);
                if (message.Type == WebSocketMessageType.Close)
                {
                    closeCode = message.CloseStatus;
                    closed = true;
                    break;
                }

                _received.Enqueue((session.Number, message.Text));
                Changed.Pulse();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // Dropped without a close frame.
        }

        await stop.CancelAsync().ConfigureAwait(false);
        await streaming.ConfigureAwait(false);
        if (closed)
        {
            try
            {
                await session.Socket.CloseOutputAsync((WebSocketCloseStatus)(closeCode ?? 1000), null, session.Aborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
            {
                // The client already went away.
            }
        }

        RecordClose(session.Number, closeCode);
    }

    private async Task StreamAsync(ServerSession session, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Interval);
        long sequence = 0;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                for (var i = 0; i < Burst; i++)
                {
                    var payload = FeedFrame.Encode(session.Number, sequence, FrameBytes);
                    await session.Socket.SendAsync(payload, WebSocketMessageType.Text, true, stop).ConfigureAwait(false);
                    sequence++;
                    _sent[session.Number] = sequence;
                }

                Changed.Pulse();
                await timer.WaitForNextTickAsync(stop).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The connection ended.
        }
    }
}

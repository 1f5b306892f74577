using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Transport.Testing.Chaos;

/// <summary>
/// A loopback TCP proxy for fault injection over real sockets. Point a client at <see cref="Uri"/> (or
/// <see cref="EndPoint"/>); every accepted connection is forwarded to the upstream by two pumps, and the
/// commands below break the path on demand: cut (FIN or RST), half-open, throttle, latency, mid-frame cut,
/// refuse and blackhole new connections.
/// </summary>
/// <remarks>
/// <para>
/// Invariants (proved in <c>Transport.IntegrationTests/Chaos/ProxyTests</c>):
/// P1: bytes pass unchanged both ways while no fault is active (<c>P1_bytes_pass_through_both_ways</c>).
/// P2: <see cref="CutAll"/> Fin gives the client end of stream, Rst a connection reset (<c>P2_*</c>).
/// P3: a half-open direction forwards nothing yet keeps TCP up; <see cref="Resume"/> restores flow (<c>P3_*</c>).
/// P4: <see cref="Throttle"/> bounds the rate per direction and connection, <see cref="Delay"/> holds each
/// chunk (<c>P4_throttle_limits_rate</c>, <c>P4_delay_holds_each_chunk_in_both_directions</c>).
/// P5: <see cref="CutMidFrame(int)"/> delivers exactly the prefix, then a reset (<c>P5_*</c>).
/// P6: refusal makes connects fail; lifting it serves the same port again (<c>P6_*</c>).
/// P7: a blackholed connection never reaches the upstream (<c>P7_*</c>).
/// P8: after <see cref="DisposeAsync"/> no pump or connection is left (<c>P8_dispose_stops_every_pump</c>).
/// </para>
/// <para>
/// Settings (half-open, throttle, latency) are proxy-wide and read per chunk: they apply to current
/// connections at their next chunk and to every new connection. Throttle and latency use real time: the
/// proxy simulates a network. All members are thread-safe.
/// </para>
/// </remarks>
public sealed class ChaosProxy : IAsyncDisposable
{
    private const int Backlog = 128;

    private readonly IPEndPoint _upstream;
    private readonly ChaosPolicy _policy = new();
    private readonly ProxyStats _stats = new();
    private readonly ConcurrentDictionary<ProxyConnection, byte> _connections = new();
    private readonly object _gate = new();

    // Guarded by _gate: the live listening socket; null while refusing by closed listener, and after dispose.
    private Socket? _listener;

    // Guarded by _gate: every accept loop ever started (one per listener), awaited on dispose.
    private readonly List<Task> _acceptLoops = [];

    // Guarded by _gate: the active refusal, if any.
    private RefuseMode? _refusing;

    // Guarded by _gate: set once by DisposeAsync.
    private Task? _disposal;

    private ChaosProxy(IPEndPoint upstream)
    {
        _upstream = upstream;
        EndPoint = new IPEndPoint(IPAddress.Loopback, 0);
    }

    /// <summary>Starts a proxy on 127.0.0.1 (a free port) that forwards to <paramref name="upstream"/>.</summary>
    public static ChaosProxy Start(IPEndPoint upstream)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        var proxy = new ChaosProxy(upstream);
        lock (proxy._gate)
        {
            proxy.OpenListener(port: 0);
        }

        return proxy;
    }

    /// <summary>The proxy's listening address (127.0.0.1 and <see cref="Port"/>); stable for the proxy's life.</summary>
    public IPEndPoint EndPoint { get; private set; }

    /// <summary>The proxy's port; it stays the same across <see cref="RefuseNewConnections"/> on and off.</summary>
    public int Port => EndPoint.Port;

    /// <summary>The upstream every connection is forwarded to.</summary>
    public IPEndPoint Upstream => _upstream;

    /// <summary><c>ws://127.0.0.1:{Port}/ws</c>.</summary>
    public Uri Uri => GetUri("/ws");

    /// <summary>Number of accepted connections not yet fully closed (blackholed ones included).</summary>
    public int ActiveConnections => _stats.ActiveConnections;

    /// <summary>Connections accepted and served (forwarded or blackholed); refused ones are not counted.</summary>
    public int TotalAccepted => _stats.TotalAccepted;

    /// <summary>Connections accepted then reset under <see cref="RefuseMode.AcceptAndReset"/>.</summary>
    public int RefusedCount => _stats.Refused;

    /// <summary>Upstream connections successfully opened (never incremented by blackholed connections).</summary>
    public int UpstreamConnects => _stats.UpstreamConnects;

    /// <summary>Upstream connects that failed; the client was reset each time.</summary>
    public int UpstreamFailures => _stats.UpstreamFailures;

    /// <summary>Pumps (and blackhole drains) currently running; 0 once <see cref="DisposeAsync"/> has returned.</summary>
    public int ActivePumpCount => _stats.ActivePumps;

    /// <summary>Bytes read from clients (forwarded, held or discarded).</summary>
    public long BytesReadFromClient => _stats.ReadFromClient;

    /// <summary>Bytes read from the upstream (forwarded, held or discarded).</summary>
    public long BytesReadFromServer => _stats.ReadFromServer;

    /// <summary>Bytes written to the upstream.</summary>
    public long BytesClientToServer => _stats.ClientToServer;

    /// <summary>Bytes written to clients.</summary>
    public long BytesServerToClient => _stats.ServerToClient;

    /// <summary>Bytes dropped by <see cref="HalfOpenMode.Discard"/> or by blackholed connections, both directions.</summary>
    public long BytesDiscarded => _stats.Discarded;

    /// <summary><c>ws://127.0.0.1:{Port}</c> followed by <paramref name="pathAndQuery"/> (which starts with '/').</summary>
    public Uri GetUri(string pathAndQuery) => new($"ws://127.0.0.1:{Port}{pathAndQuery}");

    /// <summary>Closes both directions of every current connection at once. New connections are not affected.</summary>
    public void CutAll(CutMode mode)
    {
        foreach (var connection in _connections.Keys)
        {
            connection.Cut(mode);
        }
    }

    /// <summary>
    /// Keeps TCP up but stops forwarding in <paramref name="direction"/>, for current and new connections,
    /// until <see cref="Resume"/>. <paramref name="mode"/> says whether bytes are dropped (default) or held.
    /// </summary>
    public void HalfOpen(Direction direction, HalfOpenMode mode = HalfOpenMode.Discard)
    {
        foreach (var settings in _policy.Select(direction))
        {
            settings.Halt(mode);
        }
    }

    /// <summary>Ends <see cref="HalfOpen"/> in both directions; held bytes are then delivered in order.</summary>
    public void Resume()
    {
        _policy.ClientToServer.Resume();
        _policy.ServerToClient.Resume();
    }

    /// <summary>Limits each connection's rate in <paramref name="direction"/> to about <paramref name="bytesPerSecond"/>.</summary>
    public void Throttle(int bytesPerSecond, Direction direction = Direction.Both)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerSecond);
        foreach (var settings in _policy.Select(direction))
        {
            settings.BytesPerSecond = bytesPerSecond;
        }
    }

    /// <summary>Removes every throttle.</summary>
    public void Unthrottle()
    {
        _policy.ClientToServer.BytesPerSecond = 0;
        _policy.ServerToClient.BytesPerSecond = 0;
    }

    /// <summary>
    /// Holds every chunk for <paramref name="latency"/> before forwarding it (<see cref="TimeSpan.Zero"/> clears).
    /// Chunks are delayed one after another, not pipelined, so a long latency also caps throughput.
    /// </summary>
    public void Delay(TimeSpan latency, Direction direction = Direction.Both)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(latency, TimeSpan.Zero);
        foreach (var settings in _policy.Select(direction))
        {
            settings.Latency = latency;
        }
    }

    /// <summary>
    /// Arms a one-shot cut: the first connection with server-to-client bytes forwards exactly
    /// <paramref name="prefixBytes"/> more of them and, on the chunk that would go past that, forwards only the
    /// part inside the budget and resets both sides (RST). The client thus sees the stream die inside the data
    /// the server sent (e.g. inside a WebSocket frame). Arming again replaces (and cancels) an unclaimed cut.
    /// </summary>
    /// <returns>Completes with the bytes forwarded before the reset; cancelled if the connection ends first.</returns>
    public Task<int> CutMidFrame(int prefixBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(prefixBytes);
        return Arm(new MidFrameCut(prefixBytes));
    }

    /// <summary>Like <see cref="CutMidFrame(int)"/>, with the budget set to half of the next server-to-client chunk.</summary>
    public Task<int> CutMidFrame() => Arm(new MidFrameCut(prefixBytes: null));

    /// <summary>
    /// While on, new TCP connections are refused; existing ones are untouched. With
    /// <see cref="RefuseMode.CloseListener"/> (default) the listener is closed so the OS refuses the connect, and
    /// turning refusal off re-opens it on the same port. With <see cref="RefuseMode.AcceptAndReset"/> each
    /// connection is accepted and reset at once, and counted in <see cref="RefusedCount"/>.
    /// </summary>
    public void RefuseNewConnections(bool refuse, RefuseMode mode = RefuseMode.CloseListener)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposal is not null, this);
            _refusing = refuse ? mode : null;
            if (refuse && mode == RefuseMode.CloseListener)
            {
                // Disposing the listener closes it now: the OS resets connects from here on (and any backlog).
                _listener?.Dispose();
                _listener = null;
            }
            else if (_listener is null)
            {
                OpenListener(Port);
            }
        }
    }

    /// <summary>
    /// While on, new connections are accepted but never connected upstream and never answered: a WebSocket
    /// handshake through them never completes. What the client sends is read and discarded. A connection keeps
    /// the behaviour it was accepted with; turning this off affects only later connections.
    /// </summary>
    public void BlackholeNewConnections(bool blackhole) => _policy.Blackhole = blackhole;

    /// <summary>Waits until <see cref="TotalAccepted"/> reaches <paramref name="count"/>; throws <see cref="TimeoutException"/> otherwise.</summary>
    public Task WaitForConnectionsAsync(int count, TimeSpan timeout) =>
        WaitUntilAsync(proxy => proxy.TotalAccepted >= count, timeout);

    /// <summary>
    /// Waits until <paramref name="condition"/> holds; it is re-evaluated on every change of the proxy's state
    /// (connections, pumps, byte counters). Throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.
    /// </summary>
    public Task WaitUntilAsync(Func<ChaosProxy, bool> condition, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return _stats.Signal.WaitUntilAsync(() => condition(this), timeout);
    }

    /// <summary>Stops listening, closes every connection (FIN) and waits for every pump to stop.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _disposal ??= DisposeCoreAsync();
            return new ValueTask(_disposal);
        }
    }

    private async Task DisposeCoreAsync()
    {
        Task[] acceptLoops;
        lock (_gate)
        {
            _listener?.Dispose();
            _listener = null;
            acceptLoops = [.. _acceptLoops];
        }

        // Once every accept loop has ended no connection can be added, so the snapshot below is complete.
        await Task.WhenAll(acceptLoops).ConfigureAwait(false);
        var connections = _connections.Keys.ToArray();
        foreach (var connection in connections)
        {
            connection.Cut(CutMode.Fin);
        }

        await Task.WhenAll(connections.Select(c => c.Completion)).ConfigureAwait(false);
        _policy.TakeCut()?.Abandon();

        // Release pumps of connections that might still wait on a hold gate (none should remain).
        Resume();
    }

    private Task<int> Arm(MidFrameCut cut)
    {
        _policy.ArmCut(cut);
        return cut.Completion;
    }

    /// <summary>Binds and listens; caller holds <see cref="_gate"/>.</summary>
    private void OpenListener(int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // SO_REUSEADDR before bind: re-binding the same port must succeed while accepted connections
            // (and TIME_WAIT remnants) still use it.
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
            listener.Listen(Backlog);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        EndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _acceptLoops.Add(AcceptLoopAsync(listener));
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception) when (!IsCurrent(listener))
            {
                return;
            }
            catch (SocketException)
            {
                // A connection aborted while in the backlog: keep accepting.
                continue;
            }

            Admit(client);
        }
    }

    private bool IsCurrent(Socket listener)
    {
        lock (_gate)
        {
            return ReferenceEquals(_listener, listener);
        }
    }

    private void Admit(Socket client)
    {
        lock (_gate)
        {
            if (_disposal is not null || _refusing == RefuseMode.AcceptAndReset)
            {
                client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                if (_disposal is null)
                {
                    _stats.ConnectionRefused();
                }

                return;
            }
        }

        client.NoDelay = true;
        var connection = new ProxyConnection(client, _upstream, _policy, _stats, c => _connections.TryRemove(c, out _));

        // Registered before it starts, so a fast close always finds it to remove.
        _connections.TryAdd(connection, 0);
        _stats.ConnectionAccepted();
        connection.Start();
    }
}

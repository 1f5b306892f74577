using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using VenueSimulator.Hosting;
using VenueSimulator.Sessions;

namespace VenueSimulator;

/// <summary>
/// A running simulated venue: Kestrel on 127.0.0.1 serving one WebSocket endpoint at
/// <c>/ws</c> (see PROTOCOL.md). Start with <see cref="StartAsync"/>, drive faults with the
/// methods below, read <see cref="Stats"/>, and dispose to stop.
/// </summary>
public sealed class VenueSimulatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly SimulatorOptions _options;
    private readonly HandshakeAuthenticator _auth;
    private readonly ConcurrentDictionary<long, ClientSession> _sessions = new();
    private readonly CancellationTokenSource _shutdown = new();
    private Task _chaos = Task.CompletedTask;
    private VenueTape? _tape;
    private long _nextSessionId;
    private int _disposed;

    private VenueSimulatorHost(WebApplication app, SimulatorOptions options)
    {
        _app = app;
        _options = options;
        _auth = new HandshakeAuthenticator(options.ExpectedToken, options.ExpectedSessionCookie);
    }

    /// <summary>The endpoint clients connect to: <c>ws://127.0.0.1:PORT/ws</c>.</summary>
    public Uri WebSocketUri { get; private set; } = null!;

    /// <summary>The bound port (useful when <see cref="SimulatorOptions.Port"/> was 0).</summary>
    public int Port => WebSocketUri.Port;

    /// <summary>Live counters.</summary>
    public SimulatorStats Stats { get; } = new();

    /// <summary>Binds, starts serving, and returns once the port is listening.</summary>
    public static async Task<VenueSimulatorHost> StartAsync(SimulatorOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        // Empty builder: no appsettings, environment variables or console logging leak into
        // tests; the simulator's behaviour comes from SimulatorOptions only.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddLogging();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, options.Port));
        var app = builder.Build();
        var host = new VenueSimulatorHost(app, options);
        app.UseWebSockets();
        app.Run(host.HandleAsync);

        await app.StartAsync(ct).ConfigureAwait(false);
        var address = new Uri(app.Urls.First());
        host.WebSocketUri = new UriBuilder("ws", "127.0.0.1", address.Port, "/ws").Uri;
        if (options.VenueSequences) host._tape = new VenueTape(options);
        if (options.Chaos.Enabled)
        {
            var monkey = new ChaosMonkey(options.Chaos, options.Seed, () => host._sessions.Values);
            host._chaos = monkey.RunAsync(host._shutdown.Token);
        }
        options.Log?.Invoke($"listening on {host.WebSocketUri}");
        return host;
    }

    /// <summary>Aborts every open connection at the TCP level, without a close frame.</summary>
    public void DropAllConnections()
    {
        foreach (var session in _sessions.Values) session.Abort(DisconnectReason.Dropped);
    }

    /// <summary>
    /// Aborts, at the TCP level and without a close frame, every open connection whose handshake query
    /// string contains <paramref name="query"/> (for example "leg=a": one leg of a redundant client).
    /// </summary>
    /// <returns>How many connections were aborted.</returns>
    public int DropConnectionsWithQuery(string query)
    {
        ArgumentException.ThrowIfNullOrEmpty(query);
        var dropped = 0;
        foreach (var session in _sessions.Values)
        {
            if (session.Query.Contains(query, StringComparison.Ordinal))
            {
                session.Abort(DisconnectReason.Dropped);
                dropped++;
            }
        }
        return dropped;
    }

    /// <summary>
    /// For <paramref name="duration"/>, open connections send nothing and read nothing (so
    /// client pings go unanswered too); the sockets stay up. Server keep-alive pings, run by
    /// the WebSocket stack itself, continue.
    /// </summary>
    public void StallAll(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(duration), duration, "Must be positive.");
        foreach (var session in _sessions.Values) session.Stall(duration);
    }

    /// <summary>
    /// Silently stops ticks of <paramref name="topic"/> on every existing subscription
    /// (IBKR-style); the socket and other topics carry on. Subscribing again revives it.
    /// </summary>
    public void ExpireTopic(string topic)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        foreach (var session in _sessions.Values) session.ExpireTopic(topic);
    }

    /// <summary>From now on handshakes must present <paramref name="newToken"/>; open sockets stay.</summary>
    public void RotateToken(string newToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(newToken);
        _auth.Rotate(newToken);
    }

    /// <summary>Aborts all connections and stops the server.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _shutdown.Cancel();
        foreach (var session in _sessions.Values) session.Abort(DisconnectReason.ServerShutdown);
        await _chaos.ConfigureAwait(false);
        if (_tape is not null) await _tape.DisposeAsync().ConfigureAwait(false);
        using (var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(stopTimeout.Token).ConfigureAwait(false);
        }
        await _app.DisposeAsync().ConfigureAwait(false);
        _shutdown.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (context.Request.Path != "/ws")
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("WebSocket upgrade expected").ConfigureAwait(false);
            return;
        }
        if (!_auth.IsAuthorized(context.Request))
        {
            Stats.OnRejected();
            _options.Log?.Invoke("handshake rejected: 401");
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsync("unauthorized").ConfigureAwait(false);
            return;
        }

        var socket = await context.WebSockets.AcceptWebSocketAsync(AcceptContext()).ConfigureAwait(false);
        var id = Interlocked.Increment(ref _nextSessionId);
        var session = new ClientSession(id, context, socket, _options, Stats, _shutdown.Token, _tape);
        _sessions[id] = session;
        // A session accepted while disposing would miss the abort loop: abort it here.
        if (_shutdown.IsCancellationRequested) session.Abort(DisconnectReason.ServerShutdown);
        Stats.OnAccepted();
        _options.Log?.Invoke($"#{id} connected");
        var reason = DisconnectReason.ClientAborted;
        try
        {
            reason = await session.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            _sessions.TryRemove(id, out _);
            Stats.OnDisconnected(reason);
            _options.Log?.Invoke($"#{id} disconnected ({reason})");
        }
    }

    private WebSocketAcceptContext AcceptContext()
    {
        var interval = _options.ServerPingInterval ?? TimeSpan.Zero;
        var context = new WebSocketAcceptContext { KeepAliveInterval = interval };
        // A timeout turns unsolicited pongs into pings that must be answered, or the socket is aborted.
        if (interval > TimeSpan.Zero && _options.ServerPingTimeout is { } timeout) context.KeepAliveTimeout = timeout;
        return context;
    }
}

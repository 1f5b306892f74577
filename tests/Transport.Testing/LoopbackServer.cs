using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Transport.Testing;

/// <summary>
/// A real WebSocket server for tests: in-process Kestrel on 127.0.0.1 and a free port, running a
/// scripted handler per connection.
/// </summary>
/// <remarks>
/// Every request (any path) is recorded in <see cref="Handshakes"/> as the server saw it, then
/// handed to the handler as a <see cref="ServerSession"/>. Waiting for a connection is an
/// awaitable (<see cref="WaitForConnectionAsync"/>), never a sleep. Disposing stops Kestrel and
/// aborts every connection still open.
/// </remarks>
public sealed class LoopbackServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Func<ServerSession, Task> _handler;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<ReceivedHandshake> _handshakes = [];
    private readonly ConcurrentDictionary<int, TaskCompletionSource<ServerSession>> _waiters = new();
    private readonly ConcurrentQueue<Exception> _handlerErrors = new();
    private readonly Lock _lock = new();
    private readonly List<string?> _serverNames = []; // guarded by _lock
    private int _connectionCount; // guarded by _lock (with _handshakes)

    private LoopbackServer(WebApplication app, Func<ServerSession, Task> handler)
    {
        _app = app;
        _handler = handler;
    }

    /// <summary>ws://127.0.0.1:PORT/ws (wss:// when started with <see cref="StartTlsAsync"/>).</summary>
    public Uri WebSocketUri { get; private set; } = null!;

    /// <summary>Every request received so far, in arrival order.</summary>
    public IReadOnlyList<ReceivedHandshake> Handshakes
    {
        get
        {
            lock (_lock)
            {
                return [.. _handshakes];
            }
        }
    }

    /// <summary>Requests (connections) received so far.</summary>
    public int ConnectionCount
    {
        get
        {
            lock (_lock)
            {
                return _connectionCount;
            }
        }
    }

    /// <summary>Exceptions the handler threw (other than cancellation at shutdown); a test may assert it is empty.</summary>
    public IReadOnlyCollection<Exception> HandlerErrors => [.. _handlerErrors];

    /// <summary>Starts a server running <paramref name="handler"/> for each connection.</summary>
    /// <param name="handler">The script for one connection. When it returns, the request ends.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The started server.</returns>
    public static Task<LoopbackServer> StartAsync(Func<ServerSession, Task> handler, CancellationToken cancellationToken = default) =>
        StartCoreAsync(handler, certificate: null, cancellationToken);

    /// <summary>
    /// Starts a server whose socket I/O and handler continuations run inline on the socket engine's
    /// own thread (Kestrel's <c>UnsafePreferInlineScheduling</c>) instead of hopping to the thread pool:
    /// a handler that timestamps what it reads then sees each frame close to when the kernel received
    /// it, even when the pool is busy (a venue that counts arrivals: the pacing tests). The handler
    /// must not block.
    /// </summary>
    /// <param name="handler">The script for one connection (never blocking).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The started server.</returns>
    public static Task<LoopbackServer> StartInlineAsync(Func<ServerSession, Task> handler, CancellationToken cancellationToken = default) =>
        StartCoreAsync(handler, certificate: null, cancellationToken, inlineScheduling: true);

    /// <summary>
    /// Starts a wss:// server presenting <paramref name="certificate"/> (with its private key); the
    /// server name each TLS client asked for (SNI) is recorded in <see cref="ServerNames"/>.
    /// </summary>
    /// <param name="handler">The script for one connection.</param>
    /// <param name="certificate">The server certificate (see <see cref="TestCertificates"/>).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The started server; <see cref="WebSocketUri"/> is wss://127.0.0.1:PORT/ws.</returns>
    public static Task<LoopbackServer> StartTlsAsync(Func<ServerSession, Task> handler, X509Certificate2 certificate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return StartCoreAsync(handler, certificate, cancellationToken);
    }

    /// <summary>The SNI server names TLS clients sent, in arrival order (null: the client sent none, as for an IP address).</summary>
    public IReadOnlyList<string?> ServerNames
    {
        get
        {
            lock (_lock)
            {
                return [.. _serverNames];
            }
        }
    }

    private static async Task<LoopbackServer> StartCoreAsync(Func<ServerSession, Task> handler, X509Certificate2? certificate, CancellationToken cancellationToken, bool inlineScheduling = false)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        LoopbackServer? server = null;
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (certificate is not null)
            {
                listen.UseHttps(https => https.ServerCertificateSelector = (_, name) =>
                {
                    server!.RecordServerName(name);
                    return certificate;
                });
            }
        }));
        if (inlineScheduling)
        {
            builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);
        }

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var app = builder.Build();
        server = new LoopbackServer(app, handler);
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero });
        app.Run(server.HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(address).Port;
        server.WebSocketUri = new Uri($"{(certificate is null ? "ws" : "wss")}://127.0.0.1:{port}/ws");
        return server;
    }

    private void RecordServerName(string? name)
    {
        lock (_lock)
        {
            _serverNames.Add(name);
        }
    }

    /// <summary>Waits for the <paramref name="n"/>th connection (1-based) to reach the handler.</summary>
    /// <param name="n">1 for the first connection.</param>
    /// <returns>That connection's session.</returns>
    public Task<ServerSession> WaitForConnectionAsync(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        return Waiter(n).Task;
    }

    /// <summary>Stops Kestrel and aborts every open connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Connections that would not drain were aborted.
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private TaskCompletionSource<ServerSession> Waiter(int n) =>
        _waiters.GetOrAdd(n, _ => new TaskCompletionSource<ServerSession>(TaskCreationOptions.RunContinuationsAsynchronously));

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var handshake = new ReceivedHandshake(
            request.Path.Value ?? string.Empty,
            request.QueryString.Value ?? string.Empty,
            request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            request.Cookies.ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal),
            [.. context.WebSockets.WebSocketRequestedProtocols],
            context.WebSockets.IsWebSocketRequest);

        int n;
        lock (_lock)
        {
            _handshakes.Add(handshake);
            n = ++_connectionCount;
        }

        using var aborted = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        await using var session = new ServerSession(context, handshake, n, aborted.Token);
        Waiter(n).TrySetResult(session);
        try
        {
            await _handler(session).ConfigureAwait(false);
        }
        catch (Exception ex) when (aborted.IsCancellationRequested)
        {
            // The connection went away or the server is stopping: the script ends with it.
            _ = ex;
        }
        catch (Exception ex)
        {
            _handlerErrors.Enqueue(ex);
            context.Abort();
        }
    }
}

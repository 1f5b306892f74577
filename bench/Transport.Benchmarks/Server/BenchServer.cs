using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Transport.Benchmarks.Server;

/// <summary>
/// In-process Kestrel on 127.0.0.1 that upgrades by hand (IHttpUpgradeFeature) and hands the raw
/// upgraded stream to whatever <see cref="Handler"/> the running scenario installed. Raw bytes,
/// not the server WebSocket: the server's own framing cost must not be what the client waits on.
/// </summary>
internal sealed class BenchServer : IAsyncDisposable
{
    private const string WebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    private readonly WebApplication _app;
    private ServerConnection? _current;
    private int _connections;

    private BenchServer(WebApplication app, Uri uri)
    {
        _app = app;
        Uri = uri;
    }

    public Uri Uri { get; }

    /// <summary>What each new connection runs. Installed by a scenario before its client connects.</summary>
    public Func<ServerConnection, Task> Handler { get; set; } = c => c.DrainUntilCloseAsync();

    /// <summary>Connections accepted so far (1-based index of the newest).</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>The newest connection (for the recovery scenario's abort).</summary>
    public ServerConnection? Current => Volatile.Read(ref _current);

    /// <summary>Exceptions thrown by handlers (other than the client going away).</summary>
    public List<Exception> Errors { get; } = [];

    public static async Task<BenchServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        BenchServer? server = null;
        app.Run(ctx => server!.HandleAsync(ctx));
        await app.StartAsync().ConfigureAwait(false);
        var address = new Uri(app.Urls.First());
        server = new BenchServer(app, new Uri($"ws://127.0.0.1:{address.Port}/ws"));
        return server;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        string? key = context.Request.Headers["Sec-WebSocket-Key"];
        if (upgrade is null || !upgrade.IsUpgradableRequest || key is null)
        {
            context.Response.StatusCode = 400;
            return;
        }

        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + WebSocketGuid)));
        context.Response.Headers.Connection = "Upgrade";
        context.Response.Headers.Upgrade = "websocket";
        context.Response.Headers["Sec-WebSocket-Accept"] = accept;
        var stream = await upgrade.UpgradeAsync().ConfigureAwait(false);
        var index = Interlocked.Increment(ref _connections);
        var connection = new ServerConnection(context, stream, index);
        Volatile.Write(ref _current, connection);
        try
        {
            await Handler(connection).ConfigureAwait(false);
        }
        catch (Exception ex) when (connection.ClientGone || connection.Aborted)
        {
            _ = ex; // the client aborted, or the scenario aborted on purpose
        }
        catch (Exception ex)
        {
            lock (Errors)
            {
                Errors.Add(ex);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

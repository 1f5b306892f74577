using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Hosting;

/// <summary>
/// Issue #12 item 6: a DI mistake (a handshake handler that was never registered) is a
/// configuration error: Permanent, logged once with the container's message, never a network blip.
/// </summary>
public sealed class ConfigurationErrorTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Unregistered_handshake_handler_ends_Unrecoverable_with_the_message_logged_once()
    {
        await using var server = await LoopbackServer.StartAsync(s => s.AcceptAsync());
        var logs = new CapturingLoggerProvider();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Transports:feed:Uri"] = server.WebSocketUri + "?token=" + "SUPERSECRET-cfg",
            ["Transports:feed:Reconnect:MinBackoff"] = "00:00:00.010",
            ["Transports:feed:Reconnect:MaxBackoff"] = "00:00:00.050",
        });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(logs);
        builder.Services.AddWebSocketTransport("feed")
            .BindConfiguration(builder.Configuration.GetSection("Transports:feed"))
            .ConfigureHttpClient(http => http.AddHttpMessageHandler<NeverRegisteredHandler>());
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);

        await using var connection = host.Services.GetRequiredService<IReconnectingConnectorFactory>().Get("feed").Start();
        var final = await connection.Lifecycle.WaitAsync(s => s.IsTerminal).AsTask().WaitAsync(Bound);

        Assert.Equal(ConnectionPhase.Unrecoverable, final.Phase);
        Assert.Equal(TransportErrorKind.Configuration, final.LastError?.Kind);
        Assert.Contains(nameof(NeverRegisteredHandler), final.LastError!.Message, StringComparison.Ordinal);
        Assert.Equal(3, final.Attempts); // Permanent: the first attempt and the two default retries
        Assert.Equal(0, server.ConnectionCount);
        var configurationLines = logs.Lines.Where(l => l.Line.Contains("configuration error", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(configurationLines);
        Assert.Contains(nameof(NeverRegisteredHandler), line.Line, StringComparison.Ordinal);
        Assert.All(logs.Lines, l => Assert.DoesNotContain("SUPERSECRET", l.Line, StringComparison.Ordinal));
        await host.StopAsync().WaitAsync(Bound);
    }

    private sealed class NeverRegisteredHandler : DelegatingHandler;
}

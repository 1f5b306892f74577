using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Hosting;

/// <summary>
/// The leaf choice through DI and configuration (<c>"Leaf": "ClientWebSocket" | "Pipelines"</c>): the
/// named HttpClient's handlers carry the handshake of whichever leaf is chosen, and an invalid value
/// fails when the options are resolved, naming the field.
/// </summary>
public sealed class LeafConfigurationTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task Configuration_chooses_the_leaf_and_the_named_HttpClient_carries_its_handshake(LeafKind leaf)
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.EchoAsync();
        });
        var counter = new HandshakeCounter();
        var services = new ServiceCollection();
        services.AddWebSocketTransport("feed")
            .BindConfiguration(Section(new()
            {
                ["Uri"] = server.WebSocketUri.ToString(),
                ["Leaf"] = leaf.ToString(),
            }))
            .ConfigureHttpClient(http => http.AddHttpMessageHandler(() => new CountingHandler(counter)));
        await using var provider = services.BuildServiceProvider();

        var connector = (ReconnectingConnector)provider.GetRequiredService<IReconnectingConnectorFactory>().Get("feed");
        Assert.Equal(leaf, connector.Options.Leaf);
        Assert.Equal(leaf == LeafKind.Pipelines ? typeof(PipeWebSocketConnector) : typeof(ClientWebSocketConnector), connector.Leaf.GetType());

        await using var connection = connector.Start();
        await connection.Lifecycle.WaitAsync(s => s.IsUp).AsTask().WaitAsync(Bound);
        Assert.Equal(1, counter.Count);
        Assert.Equal("/ws", counter.LastPath);
        await connection.Control.ShutdownAsync().WaitAsync(Bound);
    }

    [Fact]
    public void UsePipelinesLeaf_in_DI_chooses_the_Pipelines_leaf_with_its_settings()
    {
        var services = new ServiceCollection();
        services.AddWebSocketTransport("feed", o => o.Uri = new Uri("ws://127.0.0.1:1/ws"))
            .UsePipelinesLeaf(o => o.ReceiveBufferBytes = 8192);
        using var provider = services.BuildServiceProvider();

        var connector = (ReconnectingConnector)provider.GetRequiredService<IReconnectingConnectorFactory>().Get("feed");

        Assert.IsType<PipeWebSocketConnector>(connector.Leaf);
        Assert.Equal(LeafKind.Pipelines, connector.Options.Leaf);
    }

    [Fact]
    public void An_unknown_leaf_name_fails_naming_the_field()
    {
        var services = new ServiceCollection();
        services.AddWebSocketTransport("feed").BindConfiguration(Section(new()
        {
            ["Uri"] = "ws://127.0.0.1:1/ws",
            ["Leaf"] = "Netty",
        }));
        using var provider = services.BuildServiceProvider();

        var error = Assert.ThrowsAny<Exception>(() => provider.GetRequiredService<IOptionsMonitor<TransportOptions>>().Get("feed"));

        Assert.Contains("'Leaf'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_undefined_leaf_number_fails_validation_naming_the_field()
    {
        var services = new ServiceCollection();
        services.AddWebSocketTransport("feed").BindConfiguration(Section(new()
        {
            ["Uri"] = "ws://127.0.0.1:1/ws",
            ["Leaf"] = "7",
        }));
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IReconnectingConnectorFactory>().Get("feed"));

        Assert.Contains("WebSocket transport 'feed': Leaf: must be ClientWebSocket or Pipelines.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigureClientWebSocket_in_DI_chooses_the_ClientWebSocket_leaf_over_the_bound_value()
    {
        var services = new ServiceCollection();
        services.AddWebSocketTransport("feed").BindConfiguration(Section(new()
        {
            ["Uri"] = "ws://127.0.0.1:1/ws",
            ["Leaf"] = "Pipelines",
        }))
            .ConfigureClientWebSocket(o => o.ReceiveBufferBytes = 8192);
        using var provider = services.BuildServiceProvider();

        var connector = (ReconnectingConnector)provider.GetRequiredService<IReconnectingConnectorFactory>().Get("feed");

        Assert.IsType<ClientWebSocketConnector>(connector.Leaf);
        Assert.Equal(LeafKind.ClientWebSocket, connector.Options.Leaf);
    }

    [Fact]
    public void Without_a_choice_DI_uses_the_default_Pipelines_leaf()
    {
        var services = new ServiceCollection();
        services.AddWebSocketTransport("feed", o => o.Uri = new Uri("ws://127.0.0.1:1/ws"));
        using var provider = services.BuildServiceProvider();

        var connector = (ReconnectingConnector)provider.GetRequiredService<IReconnectingConnectorFactory>().Get("feed");

        Assert.IsType<PipeWebSocketConnector>(connector.Leaf);
    }

    [Fact]
    public void Both_leaves_configured_in_DI_fail_naming_the_field()
    {
        var services = new ServiceCollection();
        services.AddWebSocketTransport("feed", o => o.Uri = new Uri("ws://127.0.0.1:1/ws"))
            .ConfigureClientWebSocket(o => o.ReceiveBufferBytes = 8192)
            .UsePipelinesLeaf(o => o.ReceiveBufferBytes = 8192);
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<TransportConfigurationException>(() => provider.GetRequiredService<IReconnectingConnectorFactory>().Get("feed"));

        Assert.Contains("Leaf: is Pipelines", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConfigureClientWebSocket", error.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Section(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}

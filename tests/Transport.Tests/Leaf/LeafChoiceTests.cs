using Transport.Mock;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.Tests.Leaf;

/// <summary>
/// Issue 14 (leaf choice): <see cref="TransportOptions.Leaf"/> selects the built-in leaf; an invalid value
/// or settings made for the other leaf fail Build naming the field, never dropped silently.
/// </summary>
public sealed class LeafChoiceTests
{
    private static WebSocketTransportBuilder Builder() => new WebSocketTransportBuilder().Configure(o => o.WithUri("ws://127.0.0.1:1/ws"));

    [Fact]
    public void The_default_leaf_is_Pipelines()
    {
        Assert.Equal(LeafKind.Pipelines, new TransportOptions().Leaf);
        Assert.IsType<PipeWebSocketConnector>(Builder().Build().Leaf);
    }

    [Fact]
    public void The_Pipelines_leaf_reads_64_KiB_at_a_time_by_default()
    {
        // docs/benchmarks.md round 4: 64 KiB reads cost about 15% less CPU per 1 KiB message than 16 KiB.
        Assert.Equal(64 * 1024, new PipeWebSocketConnectorOptions().ReceiveBufferBytes);
        Assert.Equal(PipeWebSocketConnectorOptions.DefaultReceiveBufferBytes, new PipeWebSocketConnectorOptions().Copy().ReceiveBufferBytes);
        Assert.Equal(16 * 1024, new ClientWebSocketConnectorOptions().ReceiveBufferBytes);
    }

    [Fact]
    public void ConfigureClientWebSocket_chooses_the_ClientWebSocket_leaf()
    {
        var connector = Builder().ConfigureClientWebSocket(o => o.ReceiveBufferBytes = 8192).Build();

        Assert.Equal(LeafKind.ClientWebSocket, connector.Options.Leaf);
        Assert.IsType<ClientWebSocketConnector>(connector.Leaf);
    }

    [Fact]
    public void UsePipelinesLeaf_after_ConfigureClientWebSocket_fails_Build_naming_the_field()
    {
        var builder = Builder().ConfigureClientWebSocket(o => o.ReceiveBufferBytes = 8192).UsePipelinesLeaf();

        var error = Assert.Throws<TransportConfigurationException>(() => builder.Build());

        Assert.Contains("Leaf: is Pipelines", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public void The_options_choose_the_leaf(LeafKind kind)
    {
        var connector = Builder().Configure(o => o.WithLeaf(kind)).Build();

        Assert.Equal(kind, connector.Options.Leaf);
        Assert.Equal(kind == LeafKind.Pipelines ? typeof(PipeWebSocketConnector) : typeof(ClientWebSocketConnector), connector.Leaf.GetType());
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public void The_shared_test_helper_applies_the_choice(LeafKind kind)
    {
        var connector = Builder().UseLeafKind(kind, deflate: new System.Net.WebSockets.WebSocketDeflateOptions()).Build();

        Assert.Equal(kind, connector.Options.Leaf);
        Assert.Equal(kind == LeafKind.Pipelines ? typeof(PipeWebSocketConnector) : typeof(ClientWebSocketConnector), connector.Leaf.GetType());
        Assert.Equal(kind == LeafKind.Pipelines ? typeof(PipeWebSocketConnector) : typeof(ClientWebSocketConnector), LeafKinds.CreateConnector(kind).GetType());
    }

    [Fact]
    public void UsePipelinesLeaf_sets_the_option()
    {
        var connector = Builder().UsePipelinesLeaf().Build();

        Assert.Equal(LeafKind.Pipelines, connector.Options.Leaf);
        Assert.IsType<PipeWebSocketConnector>(connector.Leaf);
    }

    [Fact]
    public void An_undefined_leaf_value_fails_Build_naming_the_field()
    {
        var error = Assert.Throws<TransportConfigurationException>(() => Builder().Configure(o => o.WithLeaf((LeafKind)7)).Build());

        Assert.Contains("Leaf: must be ClientWebSocket or Pipelines", error.Message, StringComparison.Ordinal);
        Assert.Contains(TransportOptionsValidation.Validate(new TransportOptions { Uri = new Uri("ws://x/"), Leaf = (LeafKind)7 }), e => e.StartsWith("Leaf:", StringComparison.Ordinal));
    }

    [Fact]
    public void ClientWebSocket_settings_with_the_Pipelines_leaf_chosen_fail_Build_naming_the_field()
    {
        var builder = Builder().ConfigureClientWebSocket(o => o.ReceiveBufferBytes = 8192).Configure(o => o.WithLeaf(LeafKind.Pipelines));

        var error = Assert.Throws<TransportConfigurationException>(() => builder.Build());

        Assert.Contains("Leaf: is Pipelines", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConfigureClientWebSocket", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pipelines_settings_with_the_ClientWebSocket_leaf_chosen_later_fail_Build_naming_the_field()
    {
        var builder = Builder().UsePipelinesLeaf(o => o.ReceiveBufferBytes = 8192).Configure(o => o.WithLeaf(LeafKind.ClientWebSocket));

        var error = Assert.Throws<TransportConfigurationException>(() => builder.Build());

        Assert.Contains("Leaf: is ClientWebSocket", error.Message, StringComparison.Ordinal);
        Assert.Contains("UsePipelinesLeaf", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ready_made_leaf_overrides_the_option()
    {
        var scripted = new ScriptedConnector();

        Assert.Same(scripted, Builder().Configure(o => o.WithLeaf(LeafKind.Pipelines)).UseLeaf(scripted).Build().Leaf);
    }

    [Fact]
    public void Clone_copies_the_leaf_choice()
    {
        Assert.Equal(LeafKind.Pipelines, new TransportOptions { Leaf = LeafKind.Pipelines }.Clone().Leaf);
    }
}

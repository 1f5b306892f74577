using Transport.Mock;
using Transport.WebSockets;

namespace Transport.Tests.Leaf;

/// <summary>Issue 11 item 5: each leaf setting has one owner, and a conflicting value fails Build naming both fields.</summary>
public sealed class LeafSettingOwnershipTests
{
    private static WebSocketTransportBuilder Builder() => new WebSocketTransportBuilder().Configure(o => o.WithUri("ws://127.0.0.1:1/ws"));

    [Fact]
    public void A_leaf_message_limit_that_differs_from_the_transport_option_fails_Build_naming_both()
    {
        var builder = Builder().ConfigureClientWebSocket(o => o.MaxMessageBytes = 1000);

        var error = Assert.Throws<TransportConfigurationException>(() => builder.Build());

        Assert.Contains("ClientWebSocketConnectorOptions.MaxMessageBytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("Receive.MaxMessageBytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_value_in_both_places_is_accepted()
    {
        var builder = Builder()
            .Configure(o => o.WithMaxMessageSize(1000).WithIdleTimeouts(null, TimeSpan.FromSeconds(30)).WithKeepAlive(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(3)))
            .ConfigureClientWebSocket(o =>
            {
                o.MaxMessageBytes = 1000;
                o.KeepAliveInterval = TimeSpan.FromSeconds(5);
            });

        Assert.NotNull(builder.Build());
    }

    [Fact]
    public void Keepalive_and_clock_in_the_pipe_leaf_options_are_owned_by_the_transport_and_the_builder()
    {
        var builder = Builder().UsePipelinesLeaf(o =>
        {
            o.KeepAliveInterval = TimeSpan.FromSeconds(5);
            o.TimeProvider = new ManualTimeProvider();
        });

        var error = Assert.Throws<TransportConfigurationException>(() => builder.Build());

        Assert.Contains("PipeWebSocketConnectorOptions.KeepAliveInterval", error.Message, StringComparison.Ordinal);
        Assert.Contains("Liveness.KeepAliveInterval", error.Message, StringComparison.Ordinal);
        Assert.Contains("PipeWebSocketConnectorOptions.TimeProvider", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_pipe_leaf_takes_its_limit_and_keepalive_from_the_transport_options()
    {
        var builder = Builder()
            .Configure(o => o.WithMaxMessageSize(4096).WithIdleTimeouts(null, TimeSpan.FromSeconds(30)).WithKeepAlive(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(3)))
            .UsePipelinesLeaf(o => o.ReceiveBufferBytes = 8192);

        Assert.NotNull(builder.Build());
    }

    [Fact]
    public void A_ready_made_leaf_with_transport_owned_leaf_settings_fails_Build_instead_of_ignoring_them()
    {
        var builder = Builder()
            .Configure(o => o.WithMaxMessageSize(1000).WithIdleTimeouts(null, TimeSpan.FromSeconds(30)).WithKeepAlive(TimeSpan.FromSeconds(5), null))
            .UseLeaf(new ScriptedConnector());

        var error = Assert.Throws<TransportConfigurationException>(() => builder.Build());

        Assert.Contains("Receive.MaxMessageBytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("Liveness.KeepAliveInterval", error.Message, StringComparison.Ordinal);
        Assert.Contains("UseLeaf", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ready_made_leaf_with_default_leaf_settings_builds()
    {
        Assert.NotNull(Builder().UseLeaf(new ScriptedConnector()).Build());
    }
}

using Transport.Mock;

namespace Transport.Tests.Mock;

public sealed class MockHandshakeScriptTests
{
    [Fact]
    public async Task A_scripted_attempt_yields_the_scripted_handshake_facts_and_capabilities()
    {
        var connector = new ScriptedConnector();
        var headers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase) { ["X-Session"] = ["abc"] };
        connector.Next.Succeeds(new HandshakeResponse(101, "v2.venue", ["permessage-deflate"], headers), LeafCapabilities.AnswersPingsItself | LeafCapabilities.KeepAliveProbe);

        ILeafConnection connection = await connector.ConnectAsync(new HandshakeRequest(new Uri("ws://venue.test/ws")), CancellationToken.None);

        Assert.Equal("v2.venue", connection.SubProtocol);
        Assert.Equal("v2.venue", connection.Handshake.SubProtocol);
        Assert.Equal(["permessage-deflate"], connection.Handshake.Extensions);
        Assert.Equal("abc", connection.Handshake.GetHeader("x-session"));
        Assert.Equal(LeafCapabilities.AnswersPingsItself | LeafCapabilities.KeepAliveProbe, connection.Capabilities);
    }

    [Fact]
    public void A_default_mock_socket_surfaces_pings_and_pongs_and_reports_its_subprotocol()
    {
        ILeafConnection socket = new MockSocket("v1");

        Assert.Equal(LeafCapabilities.SurfacesPings | LeafCapabilities.SurfacesPongs, socket.Capabilities);
        Assert.Equal(101, socket.Handshake.StatusCode);
        Assert.Equal("v1", socket.Handshake.SubProtocol);
        Assert.Empty(socket.Handshake.Headers);
    }
}

using System.Net.WebSockets;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Leaf;

/// <summary>
/// Both leaves honour <see cref="HandshakeRequest.OfferCompression"/> (the stack clears it after a
/// Compression failure, docs/adr/0019): configured with permessage-deflate, they offer it only while
/// the flag is set, and the socket then works uncompressed.
/// </summary>
public sealed class CompressionOfferTests
{
    public static TheoryData<string, bool> Cases => new()
    {
        { "ClientWebSocket", true },
        { "ClientWebSocket", false },
        { "Pipelines", true },
        { "Pipelines", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    [Trait("Invariant", "Fallback.F1")]
    public async Task A_leaf_configured_with_deflate_offers_it_only_while_the_handshake_allows(string leaf, bool offer)
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync(enableCompression: true);
            await s.EchoAsync();
        });
        var deflate = new WebSocketDeflateOptions();
        ILeafConnector connector = leaf == "Pipelines"
            ? new PipeWebSocketConnector(new PipeWebSocketConnectorOptions { DeflateOptions = deflate })
            : new ClientWebSocketConnector(new ClientWebSocketConnectorOptions { DeflateOptions = deflate });
        var handshake = new HandshakeRequest(server.WebSocketUri) { OfferCompression = offer };
        var text = string.Concat(Enumerable.Repeat("bid=101.25 ask=101.26 ", 2000));

        await using var connection = await connector.ConnectAsync(handshake, CancellationToken.None).AsTask().WaitAsync(LeafTestKit.Bound);
        await connection.Sender.SendAsync(Frame.Text(text), CancellationToken.None);
        var echoed = await connection.Receiver.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(LeafTestKit.Bound);

        var seen = Assert.Single(server.Handshakes);
        Assert.Equal(offer, seen.Headers.TryGetValue("Sec-WebSocket-Extensions", out var offered) && offered.Contains("permessage-deflate", StringComparison.Ordinal));
        Assert.Equal(offer, connection.Handshake.Extensions.Any(e => e.Contains("permessage-deflate", StringComparison.Ordinal)));
        Assert.Equal(text, echoed.GetText());
    }
}

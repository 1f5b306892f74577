using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Leaf;

/// <summary>Shared arrangements for the leaf tests: bounded waits, a connector, a handshake.</summary>
internal static class LeafTestKit
{
    /// <summary>The bound on every wait over loopback: generous, so only a real hang trips it.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    public static HandshakeRequest Handshake(LoopbackServer server) => new(server.WebSocketUri);

    public static async Task<ILeafConnection> ConnectAsync(LoopbackServer server, ClientWebSocketConnectorOptions? options = null, HandshakeRequest? handshake = null)
    {
        var connector = new ClientWebSocketConnector(options);
        return await connector.ConnectAsync(handshake ?? Handshake(server), CancellationToken.None).AsTask().WaitAsync(Bound);
    }

    public static Task<Frame> ReceiveAsync(this ILeafConnection connection) =>
        connection.Receiver.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Bound);

    public static async Task<TransportException> ReceiveFailsAsync(this ILeafConnection connection) =>
        await Assert.ThrowsAsync<TransportException>(() => connection.ReceiveAsync());
}

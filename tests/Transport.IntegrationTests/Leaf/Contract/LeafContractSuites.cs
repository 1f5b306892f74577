using Transport.Testing.LeafContract;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Leaf.Contract;

/// <summary>The leaf contract run against the ClientWebSocket leaf over Kestrel loopback.</summary>
public sealed class ClientWebSocketLeafContractTests : LeafContractTests
{
    protected override LeafCapabilities ExpectedCapabilities => LeafCapabilities.AnswersPingsItself | LeafCapabilities.BatchReceive;

    protected override Task<ILeafPeer> OpenAsync(LeafContractSettings settings) =>
        RawLeafPeer.OpenAsync(settings, async handshake => await new ClientWebSocketConnector(new ClientWebSocketConnectorOptions
        {
            MaxMessageBytes = settings.MaxMessageBytes,
            TimeProvider = settings.Time ?? TimeProvider.System,
        }).ConnectAsync(handshake, CancellationToken.None));
}

/// <summary>The leaf contract run against the Pipelines leaf over Kestrel loopback.</summary>
public sealed class PipeLeafContractTests : LeafContractTests
{
    protected override LeafCapabilities ExpectedCapabilities =>
        LeafCapabilities.BatchReceive | LeafCapabilities.SurfacesPings | LeafCapabilities.SurfacesPongs;

    protected override Task<ILeafPeer> OpenAsync(LeafContractSettings settings) =>
        RawLeafPeer.OpenAsync(settings, async handshake => await new PipeWebSocketConnector(new PipeWebSocketConnectorOptions
        {
            MaxMessageBytes = settings.MaxMessageBytes,
            TimeProvider = settings.Time ?? TimeProvider.System,
        }).ConnectAsync(handshake, CancellationToken.None));
}

using Microsoft.Extensions.DependencyInjection;

namespace Transport.WebSockets.DependencyInjection;

/// <summary>
/// What a named registration adds beyond <see cref="TransportOptions"/>: service factories and
/// builder callbacks. Kept as named options so the extension methods can be called in any order.
/// </summary>
internal sealed class TransportRegistration
{
    /// <summary>The named HttpClient whose handler pipeline carries the handshake.</summary>
    public string HttpClientName { get; set; } = string.Empty;

    public Func<IServiceProvider, IAuthSource>? Auth { get; set; }

    public Func<IServiceProvider, IFailureClassifier>? Classifier { get; set; }

    public Func<IServiceProvider, ISessionInitializer>? Initializer { get; set; }

    public Func<IServiceProvider, IEndpointProvider>? Endpoints { get; set; }

    public List<Action<ClientWebSocketConnectorOptions>> ConfigureClientWebSocket { get; } = [];

    public List<Action<PipeWebSocketConnectorOptions>> ConfigurePipelinesLeaf { get; } = [];

    public List<Action<IServiceProvider, WebSocketTransportBuilder>> ConfigureTransport { get; } = [];

    /// <summary>The default HttpClient name of a transport: distinct from any REST client of the same name.</summary>
    public static string DefaultHttpClientName(string transportName) => "Transport.WebSockets." + transportName;
}

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// One named transport registered by
/// <see cref="WebSocketTransportServiceCollectionExtensions.AddWebSocketTransport(IServiceCollection, string, Action{Transport.TransportOptions}?)"/>;
/// configure it with the extension methods of <see cref="WebSocketTransportBuilderExtensions"/>.
/// </summary>
public interface IWebSocketTransportBuilder
{
    /// <summary>The transport's name: the key of its options, its connector and its default HttpClient.</summary>
    string Name { get; }

    /// <summary>The service collection the transport is registered in.</summary>
    IServiceCollection Services { get; }
}

using Microsoft.Extensions.DependencyInjection;

namespace Transport.WebSockets.DependencyInjection;

/// <summary>The builder <c>AddWebSocketTransport</c> returns: a name and a service collection.</summary>
internal sealed class DefaultWebSocketTransportBuilder(string name, IServiceCollection services) : IWebSocketTransportBuilder
{
    public string Name { get; } = name;

    public IServiceCollection Services { get; } = services;
}

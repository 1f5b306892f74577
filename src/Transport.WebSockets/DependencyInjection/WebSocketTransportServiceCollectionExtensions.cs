using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;
using Transport;
using Transport.WebSockets;
using Transport.WebSockets.DependencyInjection;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers named WebSocket transports in a service collection.</summary>
public static class WebSocketTransportServiceCollectionExtensions
{
    /// <summary>
    /// Registers a transport named <paramref name="name"/>: its <see cref="TransportOptions"/>
    /// (named options, validated with <see cref="TransportOptionsValidation"/> when the host starts),
    /// a named HttpClient whose handlers carry the handshake, and its connector, resolvable through
    /// <see cref="IReconnectingConnectorFactory"/> or as a keyed <see cref="IReconnectingConnector"/>
    /// (<c>[FromKeyedServices(name)]</c>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The transport's name (also <see cref="TransportOptions.Name"/> unless configuration sets another).</param>
    /// <param name="configure">Edits the options after any earlier configuration; optional.</param>
    /// <returns>A builder to bind configuration, auth, classifier and HttpClient settings.</returns>
    /// <remarks>
    /// Services taken from the container when registered: <see cref="TimeProvider"/>,
    /// <c>ILoggerFactory</c>, <c>IMeterFactory</c> (the Meter is created through it).
    /// Calling this again with the same name adds configuration, not a second transport.
    /// The HttpClient (<c>"Transport.WebSockets." + name</c>) has no logging handlers (the transport
    /// logs each handshake redacted) and makes no platform HTTP span: its default primary handler is a
    /// SocketsHttpHandler without <c>ActivityHeadersPropagator</c>, and one set with
    /// <c>ConfigureHttpClient</c> gets none either (ADR 0018).
    /// </remarks>
    public static IWebSocketTransportBuilder AddWebSocketTransport(this IServiceCollection services, string name, Action<TransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);

        var registry = RegistryOf(services);
        if (registry.Add(name))
        {
            var httpClientName = TransportRegistration.DefaultHttpClientName(name);

            // ADR 0018: the factory's logging handlers would log the handshake URL (a listen key in the
            // path) at Information and every header's raw value in their Trace state; the transport logs
            // the handshake itself, redacted (event Attempt). The default primary handler and the
            // post-configure step keep the platform's HTTP span (url.full, the request in the
            // DiagnosticListener payload) from being recorded for the handshake.
            services.AddHttpClient(httpClientName)
                .RemoveAllLoggers()
                .ConfigurePrimaryHttpMessageHandler(static () => HandshakeHandlers.Create());
            services.PostConfigure<HttpClientFactoryOptions>(httpClientName, new HandshakeClientGuard(httpClientName).Apply);
            services.AddOptions<TransportOptions>(name)
                .Configure(o => o.Name = name)
                .ValidateOnStart();
            services.Configure<TransportRegistration>(name, r => r.HttpClientName = httpClientName);
            services.AddSingleton<IValidateOptions<TransportOptions>>(new TransportOptionsValidator(name));
            services.TryAddSingleton<IReconnectingConnectorFactory, ReconnectingConnectorFactory>();
            services.AddKeyedSingleton<IReconnectingConnector>(name, static (sp, key) => sp.GetRequiredService<IReconnectingConnectorFactory>().Get((string)key!));
        }

        var builder = new DefaultWebSocketTransportBuilder(name, services);
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        return builder;
    }

    internal static TransportNameRegistry RegistryOf(IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(TransportNameRegistry) && !descriptor.IsKeyedService && descriptor.ImplementationInstance is TransportNameRegistry existing)
            {
                return existing;
            }
        }

        var registry = new TransportNameRegistry();
        services.AddSingleton(registry);
        return registry;
    }
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Transport.WebSockets.DependencyInjection;

/// <summary>
/// Builds each registered transport's connector once, on first use, from its validated options
/// and the container's services.
/// </summary>
internal sealed class ReconnectingConnectorFactory(
    IServiceProvider services,
    TransportNameRegistry names,
    IOptionsMonitor<TransportOptions> options,
    IOptionsMonitor<TransportRegistration> registrations,
    IHttpMessageHandlerFactory handlers) : IReconnectingConnectorFactory
{
    private readonly ConcurrentDictionary<string, Lazy<ReconnectingConnector>> _connectors = new(StringComparer.Ordinal);

    public IReconnectingConnector Get(string name) => GetConnector(name);

    /// <summary>The connector registered under <paramref name="name"/>, as its concrete type (hosted connections start through it).</summary>
    internal ReconnectingConnector GetConnector(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!names.Contains(name))
        {
            throw new InvalidOperationException($"No WebSocket transport named '{name}' is registered (services.AddWebSocketTransport(\"{name}\")).");
        }

        // Lazy: a failed build (invalid options) is cached and rethrown, never half-built twice.
        return _connectors.GetOrAdd(name, n => new Lazy<ReconnectingConnector>(() => Build(n))).Value;
    }

    private ReconnectingConnector Build(string name)
    {
        var registration = registrations.Get(name);
        var transportOptions = options.Get(name); // validation runs here (OptionsValidationException)
        var builder = new WebSocketTransportBuilder(transportOptions)
            .WithTimeProvider(services.GetService<TimeProvider>() ?? TimeProvider.System)
            .WithAuth(registration.Auth?.Invoke(services) ?? Keyed<IAuthSource>(name) ?? AuthSources.None)
            .WithClassifier(registration.Classifier?.Invoke(services) ?? Keyed<IFailureClassifier>(name) ?? DefaultFailureClassifier.Instance);

        // The named HttpClient's handlers carry the handshake of whichever leaf is chosen: a
        // UsePipelinesLeaf or ConfigureClientWebSocket registration wins over the bound "Leaf" value
        // (each call chooses its leaf, as on the plain builder); both registered is a conflict the
        // builder reports naming Leaf, since the later call below re-chooses its own leaf.
        var invoker = new HttpMessageHandlerFactoryInvoker(handlers, registration.HttpClientName);
        var leaf = registration.ConfigurePipelinesLeaf.Count > 0 ? LeafKind.Pipelines
            : registration.ConfigureClientWebSocket.Count > 0 ? LeafKind.ClientWebSocket
            : transportOptions.Leaf;
        if (leaf == LeafKind.Pipelines)
        {
            builder.UsePipelinesLeaf(o => o.HttpMessageInvoker = invoker);
        }
        else
        {
            builder.ConfigureClientWebSocket(o => o.HttpMessageInvoker = invoker);
        }
        if ((registration.Initializer?.Invoke(services) ?? Keyed<ISessionInitializer>(name)) is { } initializer)
        {
            builder.WithSessionInitializer(initializer);
        }

        if ((registration.Endpoints?.Invoke(services) ?? Keyed<IEndpointProvider>(name)) is { } endpoints)
        {
            builder.WithEndpointProvider(endpoints);
        }

        if (services.GetService<ILoggerFactory>() is { } loggers)
        {
            builder.WithLoggerFactory(loggers);
        }

        if (services.GetService<IMeterFactory>() is { } meters)
        {
            // The factory caches the Meter per name and disposes it with the container.
            builder.WithMeter(meters.Create(TransportTelemetry.Name));
        }

        foreach (var configure in registration.ConfigureClientWebSocket)
        {
            builder.ConfigureClientWebSocket(configure);
        }

        foreach (var configure in registration.ConfigurePipelinesLeaf)
        {
            builder.UsePipelinesLeaf(configure);
        }

        foreach (var configure in registration.ConfigureTransport)
        {
            configure(services, builder);
        }

        return builder.Build();
    }

    private T? Keyed<T>(string name)
        where T : class =>
        services is IKeyedServiceProvider keyed ? keyed.GetKeyedService(typeof(T), name) as T : null;
}

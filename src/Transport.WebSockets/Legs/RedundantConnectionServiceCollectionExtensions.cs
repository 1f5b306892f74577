using Microsoft.Extensions.Options;
using Transport;
using Transport.WebSockets;
using Transport.WebSockets.DependencyInjection;
using Transport.WebSockets.Legs;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers redundant connections (several legs to one feed, one merged source) in a service collection.</summary>
public static class RedundantConnectionServiceCollectionExtensions
{
    /// <summary>
    /// Registers a redundant connection named <paramref name="name"/> whose legs are connections of the transport
    /// registered as <paramref name="transport"/> (<c>AddWebSocketTransport(transport)</c>): its options, auth,
    /// classifier, session initializer and connect-attempt gate. Resolve it as a keyed
    /// <see cref="RedundantConnection"/> (<c>[FromKeyedServices(name)]</c>); it is started on first resolution and
    /// shut down with the container. The options are validated when the host starts (<c>ValidateOnStart</c>): a bad
    /// field, or an unknown transport, makes <c>host.StartAsync()</c> throw <see cref="OptionsValidationException"/>
    /// naming it.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The redundant connection's name (its <see cref="RedundantConnectionOptions.Name"/>).</param>
    /// <param name="transport">The name of the WebSocket transport its legs are built from.</param>
    /// <param name="options">Builds the options from the container (a key selector, each leg's endpoint and credentials).</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddRedundantConnection(this IServiceCollection services, string name, string transport, Func<IServiceProvider, RedundantConnectionOptions> options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(transport);
        ArgumentNullException.ThrowIfNull(options);

        services.AddOptions<RedundantRegistration>(name)
            .Configure<IServiceProvider>((registration, provider) =>
            {
                registration.Transport = transport;
                registration.Options = (options(provider) ?? throw new InvalidOperationException($"Redundant connection '{name}': the options factory returned null.")) with { Name = name };
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RedundantRegistration>>(provider => new RedundantRegistrationValidator(name, provider));
        services.AddKeyedSingleton(name, static (provider, key) =>
        {
            var registration = provider.GetRequiredService<IOptionsMonitor<RedundantRegistration>>().Get((string)key!);
            var connector = provider.GetRequiredService<IReconnectingConnectorFactory>().Get(registration.Transport) as ReconnectingConnector
                ?? throw new InvalidOperationException($"Redundant connection '{key}': the transport '{registration.Transport}' is not a Transport.WebSockets connector.");
            return new RedundantConnection(registration.Options!, connector);
        });
        return services;
    }
}

/// <summary>What <c>AddRedundantConnection</c> registered under one name.</summary>
internal sealed class RedundantRegistration
{
    public string Transport { get; set; } = string.Empty;

    public RedundantConnectionOptions? Options { get; set; }
}

/// <summary>Validates a registration with the same rules and messages as the constructor, against its transport's options.</summary>
internal sealed class RedundantRegistrationValidator(string name, IServiceProvider provider) : IValidateOptions<RedundantRegistration>
{
    public ValidateOptionsResult Validate(string? optionsName, RedundantRegistration registration)
    {
        if (!string.Equals(optionsName, name, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Skip;
        }

        var names = provider.GetService<TransportNameRegistry>();
        if (names is null || !names.Contains(registration.Transport))
        {
            return ValidateOptionsResult.Fail($"Redundant connection '{name}': no WebSocket transport named '{registration.Transport}' is registered (services.AddWebSocketTransport(\"{registration.Transport}\")).");
        }

        try
        {
            var transport = provider.GetRequiredService<IOptionsMonitor<TransportOptions>>().Get(registration.Transport);
            registration.Options!.Validate(transport);
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            return ValidateOptionsResult.Fail($"Redundant connection '{name}': {e.Message}");
        }
    }
}

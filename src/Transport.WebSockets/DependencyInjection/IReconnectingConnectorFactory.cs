namespace Transport.WebSockets;

/// <summary>
/// Hands out the connectors registered with <c>AddWebSocketTransport(name)</c>. Each name's
/// connector is built once, on first use, from its validated options and its services.
/// </summary>
public interface IReconnectingConnectorFactory
{
    /// <summary>The connector registered under <paramref name="name"/>.</summary>
    /// <param name="name">The name given to <c>AddWebSocketTransport</c>.</param>
    /// <returns>The connector (the same instance on every call).</returns>
    /// <exception cref="InvalidOperationException">No transport is registered under that name.</exception>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Its options break a rule; each message names the field.</exception>
    IReconnectingConnector Get(string name);
}

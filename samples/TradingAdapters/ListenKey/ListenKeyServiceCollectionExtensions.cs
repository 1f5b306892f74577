using Microsoft.Extensions.DependencyInjection;

namespace TradingAdapters.ListenKey;

/// <summary>Registers the REST client a <see cref="ListenKeySource"/> uses.</summary>
public static class ListenKeyServiceCollectionExtensions
{
    /// <summary>
    /// Adds the named <c>IHttpClientFactory</c> client for the venue's REST API, with the factory's
    /// default request logging removed: at Trace level that logging writes a "Request Headers" record
    /// whose message masks header values but whose structured state carries them raw (the API-key
    /// header included), so any structured sink (OpenTelemetry, JSON console) would export the key.
    /// The source logs its own outcomes (obtained, kept alive, refused, with the HTTP status).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The client's name (<see cref="ListenKeyOptions.HttpClientName"/>).</param>
    /// <param name="restBaseAddress">The venue's REST base, for example <c>https://api.binance.com/</c>.</param>
    /// <returns>The client builder, for further handlers (resilience, a proxy, TLS settings).</returns>
    public static IHttpClientBuilder AddListenKeyHttpClient(this IServiceCollection services, string name, Uri restBaseAddress)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(restBaseAddress);
        return services.AddHttpClient(name, c => c.BaseAddress = restBaseAddress).RemoveAllLoggers();
    }
}

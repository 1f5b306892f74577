namespace TradingAdapters.ListenKey;

/// <summary>
/// Settings of <see cref="ListenKeySource"/>: where the venue's REST listen-key endpoint and its
/// user-data stream live, and how often the key must be kept alive. Defaults follow Binance spot:
/// a key lives 60 minutes unless a keep-alive PUT extends it; keep it alive every 30 minutes.
/// </summary>
public sealed class ListenKeyOptions
{
    /// <summary>The name of the <c>IHttpClientFactory</c> client whose <c>BaseAddress</c> is the venue's REST API.</summary>
    public string HttpClientName { get; set; } = "venue-rest";

    /// <summary>The listen-key resource, relative to the client's base address: POST obtains, PUT keeps alive.</summary>
    public string ListenKeyPath { get; set; } = "api/v3/userDataStream";

    /// <summary>The header carrying the API key (redacted by the transport's rules: its name contains "key").</summary>
    public string ApiKeyHeader { get; set; } = "X-MBX-APIKEY";

    /// <summary>Returns the API key current now (read on every request, so a rotated key is used next time).</summary>
    public Func<string> ApiKey { get; set; } = () => throw new InvalidOperationException("ListenKeyOptions.ApiKey is not set.");

    /// <summary>The user-data stream's base, for example <c>wss://stream.binance.com:9443/ws</c>; the key is appended as the last path segment.</summary>
    public Uri? StreamBaseUri { get; set; }

    /// <summary>How often a keep-alive PUT is sent. Default 30 minutes.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// How long a key lives after it was obtained or last kept alive. Past it, the key is treated as
    /// expired and a new one is obtained (on the next keep-alive tick or connect attempt). Default 60 minutes.
    /// </summary>
    public TimeSpan KeyLifetime { get; set; } = TimeSpan.FromMinutes(60);

    /// <summary>Fails naming the field when a setting is invalid.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the parameter name is the property's.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(HttpClientName)) throw new ArgumentException("Must be set.", nameof(HttpClientName));
        if (string.IsNullOrWhiteSpace(ListenKeyPath)) throw new ArgumentException("Must be set.", nameof(ListenKeyPath));
        if (string.IsNullOrWhiteSpace(ApiKeyHeader)) throw new ArgumentException("Must be set.", nameof(ApiKeyHeader));
        ArgumentNullException.ThrowIfNull(ApiKey, nameof(ApiKey));
        if (StreamBaseUri is not { IsAbsoluteUri: true } stream || (stream.Scheme != "wss" && stream.Scheme != "ws"))
        {
            throw new ArgumentException("Must be an absolute ws:// or wss:// URI.", nameof(StreamBaseUri));
        }

        if (KeepAliveInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(KeepAliveInterval), KeepAliveInterval, "Must be positive.");
        if (KeyLifetime <= KeepAliveInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(KeyLifetime), KeyLifetime, $"Must be longer than KeepAliveInterval ({KeepAliveInterval}), or the key expires between keep-alives.");
        }
    }
}

using Microsoft.Extensions.Logging;
using Transport.WebSockets.Initialization;

namespace Transport.WebSockets.Endpoints;

/// <summary>
/// Builds each attempt's fresh <see cref="HandshakeRequest"/>: the endpoint (the provider's choice,
/// or the configured URI with its failover list), the static headers and subprotocols, and every
/// name and path segment to redact. The auth source stamps it afterwards.
/// </summary>
/// <remarks>
/// Endpoint.E1 each attempt asks for its endpoint anew; failover walks the configured order within
/// a connect cycle and a new cycle starts at the primary (test: E1_failover_walks_the_list_and_a_new_cycle_starts_at_the_primary).
/// Endpoint.E2 a sensitive path segment, header or query name configured or marked by the provider
/// never appears in logs, spans or exception messages (test: E2_path_secret_never_appears_in_logs_spans_or_errors).
/// Each request offers permessage-deflate only while <see cref="Compression"/> allows it (Fallback.F1, docs/adr/0019).
/// </remarks>
internal sealed class HandshakeFactory
{
    private readonly TransportOptions _options;
    private readonly IEndpointProvider _provider;
    private readonly ILogger _logger;

    public HandshakeFactory(TransportOptions options, IEndpointProvider? provider, ILogger logger)
    {
        _options = options;
        _logger = logger;
        Configured = [options.Uri!, .. options.FailoverUris];
        _provider = provider ?? (Configured.Count > 1 ? EndpointProviders.Failover : EndpointProviders.From(static c => c.Configured[0]));
        Compression = new CompressionFallback(logger, options.Name);
    }

    /// <summary>The connection's permessage-deflate fallback (docs/adr/0019).</summary>
    public CompressionFallback Compression { get; }

    /// <summary>The configured endpoints: the URI, then the failover list.</summary>
    public IReadOnlyList<Uri> Configured { get; }

    /// <summary>The primary endpoint, redacted (safe to log).</summary>
    public string RedactedPrimary => Redaction.RedactUri(_options.Uri!, _options.SensitiveNames, _options.SensitivePathSegments);

    /// <summary>A fresh request for one attempt (before the auth source stamps it).</summary>
    public async ValueTask<HandshakeRequest> CreateAsync(long attempt, int attemptInCycle, long epoch, bool isReconnect, TransportException? lastError, CancellationToken cancellationToken)
    {
        var context = new EndpointContext(attempt, attemptInCycle, epoch, isReconnect, Configured, lastError);
        TransportEndpoint endpoint;
        try
        {
            endpoint = await _provider.GetEndpointAsync(context, cancellationToken);
        }
        catch (Exception ex) when (ex is not TransportException and not OperationCanceledException)
        {
            // User code: type only (its message may echo the secret it was building).
            InitializationLog.EndpointProviderThrew(_logger, _options.Name, attempt, ex.GetType().Name);
            throw TransportException.Connection($"The endpoint provider failed ({ex.GetType().Name}).", ex);
        }

        if (endpoint?.Uri is not { IsAbsoluteUri: true, Scheme: "ws" or "wss" })
        {
            throw TransportException.Connection("The endpoint provider returned no absolute ws:// or wss:// URI.");
        }

        var request = new HandshakeRequest(endpoint.Uri) { OfferCompression = Compression.OfferCompression };
        foreach (var (name, value) in _options.Headers)
        {
            request.Headers[name] = value;
        }

        foreach (var subProtocol in _options.SubProtocols)
        {
            request.SubProtocols.Add(subProtocol);
        }

        foreach (var name in _options.SensitiveNames)
        {
            request.SensitiveNames.Add(name);
        }

        foreach (var segment in _options.SensitivePathSegments)
        {
            request.SensitivePathSegments.Add(segment);
        }

        foreach (var segment in endpoint.SensitivePathSegments ?? [])
        {
            request.SensitivePathSegments.Add(segment);
        }

        return request;
    }
}

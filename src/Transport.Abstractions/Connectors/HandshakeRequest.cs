using System.Text;

namespace Transport;

/// <summary>
/// One connect attempt's handshake: URI, headers, cookies, subprotocols and query parameters.
/// </summary>
/// <remarks>
/// A fresh request is built from the configuration for every attempt, then handed to the
/// <see cref="IAuthSource"/> to stamp the current credentials, so a credential rotated between a
/// drop and the reconnect is the one used. <see cref="ToString"/> redacts every credential
/// (see <see cref="Redaction"/>).
/// </remarks>
public sealed class HandshakeRequest
{
    /// <summary>Creates a request for <paramref name="uri"/>.</summary>
    /// <param name="uri">A ws:// or wss:// URI. Query parameters already on it are kept.</param>
    public HandshakeRequest(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        Uri = uri;
    }

    /// <summary>The endpoint, before <see cref="Query"/> is appended.</summary>
    public Uri Uri { get; set; }

    /// <summary>Request headers (case-insensitive names).</summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Cookies sent with the handshake (always redacted in output).</summary>
    public IDictionary<string, string> Cookies { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Requested subprotocols, in preference order.</summary>
    public IList<string> SubProtocols { get; } = new List<string>();

    /// <summary>Query parameters appended to <see cref="Uri"/> (for example a token or a resume cursor).</summary>
    public IDictionary<string, string> Query { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// Extra header or query names to redact beyond <see cref="Redaction"/>'s built-in list
    /// (an auth source adds the names it stamps).
    /// </summary>
    public ISet<string> SensitiveNames { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Path segments of <see cref="Uri"/> that carry a credential (for example the listen key of
    /// <c>/ws/&lt;listenKey&gt;</c>): 0 is the first segment after the host, -1 the last. Masked
    /// wherever the request is shown.
    /// </summary>
    public ISet<int> SensitivePathSegments { get; } = new HashSet<int>();

    /// <summary>
    /// Whether the leaf may offer permessage-deflate (RFC 7692) on this attempt, when its own options
    /// configure it (true by default). A leaf must not offer compression when this is false. The
    /// reconnecting stack clears it for every attempt after a <see cref="TransportErrorKind.Compression"/>
    /// failure, for the rest of the connection's life (docs/adr/0019-deflate-fallback.md); an auth
    /// source may clear it too.
    /// </summary>
    public bool OfferCompression { get; set; } = true;

    /// <summary>The URI with <see cref="Query"/> appended, escaped. Contains secrets: never log it; log <see cref="ToString"/>.</summary>
    /// <returns>The URI to connect to.</returns>
    public Uri BuildUri()
    {
        if (Query.Count == 0)
        {
            return Uri;
        }

        var builder = new UriBuilder(Uri);
        var query = new StringBuilder(builder.Query.TrimStart('?'));
        foreach (var (key, value) in Query)
        {
            if (query.Length > 0)
            {
                query.Append('&');
            }

            query.Append(Uri.EscapeDataString(key)).Append('=').Append(Uri.EscapeDataString(value));
        }

        builder.Query = query.ToString();
        return builder.Uri;
    }

    /// <summary>True when <paramref name="name"/> (a header or query key) must be redacted.</summary>
    /// <param name="name">A header or query parameter name.</param>
    public bool IsSensitive(string name) => SensitiveNames.Contains(name) || Redaction.IsSensitiveName(name);

    /// <summary>This request's URI (query appended) redacted: safe for logs, traces and exception messages.</summary>
    /// <returns>The redacted URI.</returns>
    public string ToRedactedUriString() => Redaction.RedactUri(BuildUri(), SensitiveNames, SensitivePathSegments);

    /// <summary>Describes the request with every credential redacted.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(Redaction.RedactUri(Uri, SensitiveNames, SensitivePathSegments));
        foreach (var (key, value) in Query)
        {
            sb.Append(sb.ToString().Contains('?', StringComparison.Ordinal) ? '&' : '?')
              .Append(key).Append('=').Append(IsSensitive(key) ? Redaction.Mask : value);
        }

        if (Headers.Count > 0)
        {
            sb.Append(" headers[");
            sb.AppendJoin(", ", Headers.Select(h => $"{h.Key}: {(IsSensitive(h.Key) ? Redaction.Mask : h.Value)}"));
            sb.Append(']');
        }

        if (Cookies.Count > 0)
        {
            sb.Append(" cookies[");
            sb.AppendJoin(", ", Cookies.Keys.Select(k => $"{k}={Redaction.Mask}"));
            sb.Append(']');
        }

        if (SubProtocols.Count > 0)
        {
            sb.Append(" subprotocols[").AppendJoin(", ", SubProtocols).Append(']');
        }

        if (!OfferCompression)
        {
            sb.Append(" compression[off]");
        }

        return sb.ToString();
    }
}

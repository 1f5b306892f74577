namespace Transport.Mock;

/// <summary>
/// A copy of one <see cref="HandshakeRequest"/> as it was when <see cref="ILeafConnector.ConnectAsync"/>
/// received it. Later changes to the request do not show here, so a test can assert the exact
/// credential each attempt carried.
/// </summary>
/// <remarks><see cref="ToString"/> is the request's own redacted description: no credential appears in it.</remarks>
public sealed class HandshakeRecord
{
    private readonly string _redacted;

    internal HandshakeRecord(int attempt, HandshakeRequest request)
    {
        Attempt = attempt;
        Endpoint = request.Uri;
        Uri = request.BuildUri();
        Headers = new Dictionary<string, string>(request.Headers, StringComparer.OrdinalIgnoreCase);
        Cookies = new Dictionary<string, string>(request.Cookies, StringComparer.Ordinal);
        Query = new Dictionary<string, string>(request.Query, StringComparer.Ordinal);
        SubProtocols = [.. request.SubProtocols];
        SensitiveNames = new HashSet<string>(request.SensitiveNames, StringComparer.OrdinalIgnoreCase);
        OfferCompression = request.OfferCompression;
        _redacted = request.ToString();
    }

    /// <summary>Which attempt this was (1-based, counting every call to <c>ConnectAsync</c>).</summary>
    public int Attempt { get; }

    /// <summary>The URI the attempt connected to (<see cref="HandshakeRequest.BuildUri"/>: query appended). Contains secrets.</summary>
    public Uri Uri { get; }

    /// <summary>The request's <see cref="HandshakeRequest.Uri"/>, before its query parameters were appended.</summary>
    public Uri Endpoint { get; }

    /// <summary>The headers (case-insensitive names).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>The cookies.</summary>
    public IReadOnlyDictionary<string, string> Cookies { get; }

    /// <summary>The query parameters appended to the URI.</summary>
    public IReadOnlyDictionary<string, string> Query { get; }

    /// <summary>The requested subprotocols, in preference order.</summary>
    public IReadOnlyList<string> SubProtocols { get; }

    /// <summary>The extra names the request marked sensitive.</summary>
    public IReadOnlySet<string> SensitiveNames { get; }

    /// <summary>
    /// Whether the attempt allowed the leaf to offer permessage-deflate (<see cref="HandshakeRequest.OfferCompression"/>;
    /// false after a Compression failure, docs/adr/0019).
    /// </summary>
    public bool OfferCompression { get; }

    /// <summary>The request's redacted description, as it was at connect time.</summary>
    public override string ToString() => $"#{Attempt} {_redacted}";
}

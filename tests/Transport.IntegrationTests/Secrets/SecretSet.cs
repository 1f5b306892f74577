using System.Security.Cryptography;

namespace Transport.IntegrationTests.Secrets;

/// <summary>
/// Distinctive random credentials for one test run, one per place a venue puts them: a bearer token, an
/// API-key header (X-MBX-APIKEY, from the options' configured headers), a header named in
/// <see cref="TransportOptions.SensitiveNames"/>, a cookie, a query parameter and a path segment (a
/// listen key). Each holds 24 random hex digits; a hit is any occurrence of those digits, whatever
/// surrounds them (so a truncated prefix or a different encoding of the label does not hide it).
/// </summary>
internal sealed class SecretSet
{
    public const string NamedHeader = "X-Venue-Pass";
    public const string ApiKeyHeader = "X-MBX-APIKEY";
    public const string CookieName = "venue_session";
    public const string QueryName = "token";

    public SecretSet()
    {
        Bearer = New("bearer");
        ApiKey = New("apikey");
        Named = New("named");
        Cookie = New("cookie");
        Query = New("query");
        PathSegment = New("listenkey");
    }

    public Secret Bearer { get; }

    public Secret ApiKey { get; }

    public Secret Named { get; }

    public Secret Cookie { get; }

    public Secret Query { get; }

    public Secret PathSegment { get; }

    public IReadOnlyList<Secret> All => [Bearer, ApiKey, Named, Cookie, Query, PathSegment];

    /// <summary>The endpoint with the listen key as its last path segment.</summary>
    public Uri EndpointOn(Uri server) => new($"{server.Scheme}://{server.Authority}/ws/{PathSegment.Value}");

    /// <summary>Stamps every credential but the API key (that one comes from the options' headers), as a venue's auth source would.</summary>
    public IAuthSource AuthSource() => AuthSources.From((request, _, _) =>
    {
        request.Headers["Authorization"] = "Bearer " + Bearer.Value;
        request.Headers[NamedHeader] = Named.Value;
        request.Cookies[CookieName] = Cookie.Value;
        request.Query[QueryName] = Query.Value;
        return ValueTask.CompletedTask;
    });

    private static Secret New(string label) => new(label, Convert.ToHexString(RandomNumberGenerator.GetBytes(12)).ToLowerInvariant());
}

/// <summary>One credential: what it is, and the random digits that identify it.</summary>
/// <param name="Label">Where it was put (for the failure message).</param>
/// <param name="Digits">24 random hex digits.</param>
internal sealed record Secret(string Label, string Digits)
{
    /// <summary>The credential as sent: the label keeps it readable in a wire capture.</summary>
    public string Value => $"s3cr3t-{Label}-{Digits}";
}

using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace VenueSimulator.Hosting;

/// <summary>
/// Checks the upgrade request before the handshake completes, so a failure is a plain HTTP
/// 401 as real venues answer. Accepts the token (query <c>token=</c> or
/// <c>Authorization: Bearer</c>) or the <c>session</c> cookie; no check when neither is set.
/// Compares in constant time and never logs what was presented.
/// </summary>
internal sealed class HandshakeAuthenticator
{
    private volatile string? _token;
    private readonly string? _sessionCookie;

    public HandshakeAuthenticator(string? token, string? sessionCookie)
    {
        _token = token;
        _sessionCookie = sessionCookie;
    }

    /// <summary>Later handshakes must present <paramref name="newToken"/>; open sockets stay.</summary>
    public void Rotate(string newToken) => _token = newToken;

    public bool IsAuthorized(HttpRequest request)
    {
        var token = _token;
        if (token is null && _sessionCookie is null) return true;
        if (token is not null && (Matches(request.Query["token"].ToString(), token) || Matches(BearerOf(request), token)))
            return true;
        return _sessionCookie is not null && Matches(request.Cookies["session"], _sessionCookie);
    }

    private static string? BearerOf(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        return header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? header[prefix.Length..].Trim() : null;
    }

    private static bool Matches(string? presented, string expected) =>
        !string.IsNullOrEmpty(presented)
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(expected));
}

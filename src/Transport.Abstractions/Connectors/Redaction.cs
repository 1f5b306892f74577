namespace Transport;

/// <summary>
/// The one place that decides what counts as a credential in handshake output. Every log line,
/// trace tag, exception message and <c>ToString()</c> the transport writes goes through it.
/// </summary>
public static class Redaction
{
    /// <summary>What replaces a redacted value.</summary>
    public const string Mask = "***";

    // Substrings that mark a header or query name as credential-bearing. Matching is by
    // substring so "X-MBX-APIKEY", "api_key", "listenKey", "access_token" all hit.
    private static readonly string[] SensitiveFragments =
    [
        "authorization", "cookie", "token", "key", "secret", "signature", "passphrase", "password", "session", "auth", "sig", "credential",
    ];

    /// <summary>True when a header or query name looks credential-bearing.</summary>
    /// <param name="name">A header or query parameter name.</param>
    public static bool IsSensitiveName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var fragment in SensitiveFragments)
        {
            if (name.Contains(fragment, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The URI with user info, sensitive query values and sensitive path segments masked.</summary>
    /// <param name="uri">A URI that may carry credentials.</param>
    /// <param name="extraSensitiveNames">Further query names to mask (beyond the built-in fragments).</param>
    /// <param name="sensitivePathSegments">
    /// Path segments to mask: 0 is the first segment after the host, -1 the last
    /// (<c>[-1]</c> masks the key of <c>/ws/&lt;listenKey&gt;</c>). Indices outside the path are ignored.
    /// </param>
    /// <returns>A string safe to log.</returns>
    public static string RedactUri(Uri uri, ICollection<string>? extraSensitiveNames = null, IEnumerable<int>? sensitivePathSegments = null)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!uri.IsAbsoluteUri)
        {
            // A relative reference has no reliable structure to redact piecewise.
            return Mask;
        }

        var authority = $"{uri.Scheme}://{(string.IsNullOrEmpty(uri.UserInfo) ? string.Empty : Mask + "@")}{uri.Authority}";
        var path = RedactPath(uri.AbsolutePath, sensitivePathSegments);
        var query = uri.Query.TrimStart('?');
        if (query.Length == 0)
        {
            return authority + path;
        }

        var parts = query.Split('&');
        for (var i = 0; i < parts.Length; i++)
        {
            var eq = parts[i].IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(eq < 0 ? parts[i] : parts[i][..eq]);
            if (eq >= 0 && (IsSensitiveName(name) || (extraSensitiveNames?.Contains(name) ?? false)))
            {
                parts[i] = parts[i][..(eq + 1)] + Mask;
            }
        }

        return authority + path + "?" + string.Join('&', parts);
    }

    /// <summary>A URI path with the given segments masked.</summary>
    /// <param name="absolutePath">A path starting with '/' (e.g. <see cref="Uri.AbsolutePath"/>).</param>
    /// <param name="sensitivePathSegments">0 is the first segment, -1 the last; null or empty: unchanged.</param>
    /// <returns>The path, safe to log.</returns>
    public static string RedactPath(string absolutePath, IEnumerable<int>? sensitivePathSegments)
    {
        ArgumentNullException.ThrowIfNull(absolutePath);
        if (sensitivePathSegments is null)
        {
            return absolutePath;
        }

        var leadingSlash = absolutePath.StartsWith('/');
        var segments = (leadingSlash ? absolutePath[1..] : absolutePath).Split('/');
        var masked = false;
        foreach (var index in sensitivePathSegments)
        {
            var i = index < 0 ? segments.Length + index : index;
            if (i >= 0 && i < segments.Length && segments[i].Length > 0)
            {
                segments[i] = Mask;
                masked = true;
            }
        }

        return masked ? (leadingSlash ? "/" : string.Empty) + string.Join('/', segments) : absolutePath;
    }
}

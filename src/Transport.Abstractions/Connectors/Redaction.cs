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

    /// <summary>The URI with user info and sensitive query values masked.</summary>
    /// <param name="uri">A URI that may carry credentials.</param>
    /// <param name="extraSensitiveNames">Further names to mask.</param>
    /// <returns>A string safe to log.</returns>
    public static string RedactUri(Uri uri, ICollection<string>? extraSensitiveNames = null)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!uri.IsAbsoluteUri)
        {
            return uri.ToString();
        }

        var authority = $"{uri.Scheme}://{(string.IsNullOrEmpty(uri.UserInfo) ? string.Empty : Mask + "@")}{uri.Authority}";
        var query = uri.Query.TrimStart('?');
        if (query.Length == 0)
        {
            return authority + uri.AbsolutePath;
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

        return authority + uri.AbsolutePath + "?" + string.Join('&', parts);
    }
}

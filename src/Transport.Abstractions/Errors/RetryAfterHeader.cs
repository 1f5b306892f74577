using System.Globalization;

namespace Transport;

/// <summary>
/// Parses an HTTP <c>Retry-After</c> header (RFC 9110 section 10.2.3): either delta-seconds
/// (<c>Retry-After: 120</c>) or an HTTP date (<c>Retry-After: Fri, 31 Dec 1999 23:59:59 GMT</c>).
/// Shared by the leaves, so every leaf puts the same value on <see cref="TransportException.RetryAfter"/>.
/// </summary>
public static class RetryAfterHeader
{
    // IMF-fixdate first (what servers send), then the two obsolete forms RFC 9110 still asks recipients to accept.
    private static readonly string[] DateFormats =
    [
        "r",
        "dddd, dd'-'MMM'-'yy HH':'mm':'ss 'GMT'",
        "ddd MMM d HH':'mm':'ss yyyy",
    ];

    /// <summary>Parses <paramref name="value"/> into a non-negative delay.</summary>
    /// <param name="value">The header's value (surrounding whitespace allowed); null or empty fails.</param>
    /// <param name="now">
    /// The wall-clock time the response was received, used only for the HTTP-date form: a date in
    /// the past means "now" (a zero delay).
    /// </param>
    /// <param name="delay">The delay the server asked for.</param>
    /// <returns>True when the value is a valid delta-seconds or HTTP date.</returns>
    public static bool TryParse(string? value, DateTimeOffset now, out TimeSpan delay)
    {
        delay = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var text = value.Trim();
        if (text.All(char.IsAsciiDigit))
        {
            // delta-seconds: 1*DIGIT. Huge values saturate instead of failing; the policy caps them anyway.
            delay = long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds <= (long)TimeSpan.MaxValue.TotalSeconds
                ? TimeSpan.FromSeconds(seconds)
                : TimeSpan.MaxValue;
            return true;
        }

        if (DateTimeOffset.TryParseExact(text, DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AllowInnerWhite | DateTimeStyles.AssumeUniversal, out var date))
        {
            delay = date > now ? date - now : TimeSpan.Zero;
            return true;
        }

        return false;
    }

    /// <summary>The first parseable value among a header's values, or null.</summary>
    /// <param name="values">The header's values as a response exposes them (null when absent).</param>
    /// <param name="now">The wall-clock time the response was received.</param>
    /// <returns>The delay, or null when the header is absent or malformed.</returns>
    public static TimeSpan? Parse(IEnumerable<string>? values, DateTimeOffset now)
    {
        if (values is null)
        {
            return null;
        }

        foreach (var value in values)
        {
            if (TryParse(value, now, out var delay))
            {
                return delay;
            }
        }

        return null;
    }
}

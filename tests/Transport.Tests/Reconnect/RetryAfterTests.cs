using Transport.WebSockets.Reconnect;

namespace Transport.Tests.Reconnect;

public sealed class RetryAfterTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<string?, bool, double> Headers => new()
    {
        { "2", true, 2 },
        { " 120 ", true, 120 },
        { "0", true, 0 },
        { "Thu, 01 Jan 2026 12:00:30 GMT", true, 30 },         // IMF-fixdate
        { "Thursday, 01-Jan-26 12:01:00 GMT", true, 60 },      // obsolete RFC 850
        { "Thu Jan  1 12:00:05 2026", true, 5 },               // obsolete asctime
        { "Thu, 01 Jan 2026 11:00:00 GMT", true, 0 },          // in the past: now
        { "99999999999999999999", true, TimeSpan.MaxValue.TotalSeconds },
        { "-5", false, 0 },
        { "1.5", false, 0 },
        { "soon", false, 0 },
        { "", false, 0 },
        { null, false, 0 },
    };

    [Theory]
    [MemberData(nameof(Headers))]
    public void Parses_delta_seconds_and_http_dates(string? value, bool ok, double seconds)
    {
        Assert.Equal(ok, RetryAfterHeader.TryParse(value, Now, out var delay));
        if (ok)
        {
            Assert.Equal(seconds, delay.TotalSeconds, precision: 3);
        }
    }

    [Fact]
    public void Parse_takes_the_first_valid_value_and_null_when_absent()
    {
        Assert.Equal(TimeSpan.FromSeconds(7), RetryAfterHeader.Parse(["junk", "7"], Now));
        Assert.Null(RetryAfterHeader.Parse(null, Now));
        Assert.Null(RetryAfterHeader.Parse(["junk"], Now));
    }

    private static TransportException Rejected(int status, double? retryAfter) =>
        TransportException.HandshakeRejected(status, retryAfter: retryAfter is { } s ? TimeSpan.FromSeconds(s) : null);

    public static TheoryData<double, int, double?, double, double> Rules => new()
    {
        // backoff s, status, Retry-After s, MaxRetryAfter s, expected wait s
        { 1, 429, 30, 300, 30 },
        { 1, 503, 30, 300, 30 },
        { 60, 429, 30, 300, 60 },   // larger of the two
        { 1, 429, 3600, 300, 300 }, // capped
        { 1, 429, null, 300, 1 },   // no header
        { 1, 500, 30, 300, 1 },     // only 429 and 503
        { 1, 403, 30, 300, 1 },
        { 10, 429, 3600, 0, 10 },   // MaxRetryAfter zero ignores the header, never below the backoff
    };

    [Theory]
    [MemberData(nameof(Rules))]
    [Trait("Invariant", "Policy.P4")]
    public void Policy_P4_retry_after_table(double backoff, int status, double? retryAfter, double max, double expected)
    {
        var wait = RetryAfterRule.Apply(TimeSpan.FromSeconds(backoff), Rejected(status, retryAfter), TimeSpan.FromSeconds(max));
        Assert.Equal(TimeSpan.FromSeconds(expected), wait);
    }

    [Fact]
    public void Retry_after_appears_in_the_exception_text()
    {
        var error = Rejected(429, 2);
        Assert.Equal(TimeSpan.FromSeconds(2), error.RetryAfter);
        Assert.Contains("retry-after=2s", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.Equal(TransportErrorKind.Auth, Rejected(401, 5).Kind);
    }
}

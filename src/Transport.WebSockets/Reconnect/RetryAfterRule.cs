namespace Transport.WebSockets.Reconnect;

/// <summary>
/// Pure: the wait before the next attempt once the server's <c>Retry-After</c> is taken into account.
/// </summary>
/// <remarks>
/// Policy.P4 for a handshake answered 429 or 503 with a Retry-After, the wait is the larger of the
/// backoff and Retry-After, capped by <c>Reconnect.MaxRetryAfter</c> (never below the backoff);
/// every other error waits the backoff (Policy_P4_retry_after_table).
/// </remarks>
internal static class RetryAfterRule
{
    public static TimeSpan Apply(TimeSpan backoff, TransportException? error, TimeSpan maxRetryAfter)
    {
        if (error is not { HttpStatus: 429 or 503, RetryAfter: { } retryAfter })
        {
            return backoff;
        }

        var asked = retryAfter < maxRetryAfter ? retryAfter : maxRetryAfter;
        return asked > backoff ? asked : backoff;
    }
}

namespace Transport;

/// <summary>
/// The one error type the transport raises and reports: a <see cref="Kind"/> plus, where there
/// is one, the HTTP status of a rejected handshake and the WebSocket close code.
/// </summary>
/// <remarks>
/// Messages are composed by the transport and never include URIs, headers, cookies or
/// payloads, so an exception can be logged as it is. <see cref="ToString"/> names the inner
/// exception's type but not its message, because platform messages may echo a URI with a
/// credential-bearing query string.
/// </remarks>
public sealed class TransportException : Exception
{
    /// <summary>Creates an error.</summary>
    /// <param name="kind">The taxonomy kind.</param>
    /// <param name="message">A message free of secrets.</param>
    /// <param name="httpStatus">The HTTP status of a rejected handshake, if any.</param>
    /// <param name="closeCode">The WebSocket close code, if any.</param>
    /// <param name="closeReason">The close reason the peer gave, if any.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    /// <param name="retryAfter">The wait a rejected handshake's <c>Retry-After</c> asked for, if any.</param>
    public TransportException(
        TransportErrorKind kind,
        string message,
        int? httpStatus = null,
        int? closeCode = null,
        string? closeReason = null,
        Exception? inner = null,
        TimeSpan? retryAfter = null)
        : base(message, inner)
    {
        Kind = kind;
        HttpStatus = httpStatus;
        CloseCode = closeCode;
        CloseReason = closeReason;
        RetryAfter = retryAfter;
    }

    /// <summary>The taxonomy kind.</summary>
    public TransportErrorKind Kind { get; }

    /// <summary>The HTTP status code of a rejected handshake (for example 401, 429, 503).</summary>
    public int? HttpStatus { get; }

    /// <summary>The WebSocket close code, when the error is tied to a close.</summary>
    public int? CloseCode { get; }

    /// <summary>The close reason the peer gave, if any.</summary>
    public string? CloseReason { get; }

    /// <summary>
    /// The wait the server asked for with a <c>Retry-After</c> header on a rejected handshake
    /// (delta-seconds, or an HTTP date converted to a delay when the leaf saw it); null when absent.
    /// For 429 and 503 the reconnect policy waits the larger of its backoff and this, capped by
    /// <c>Reconnect.MaxRetryAfter</c>. Parse a header with <see cref="RetryAfterHeader.TryParse"/>.
    /// </summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>A connect or I/O failure.</summary>
    /// <param name="message">A message free of secrets.</param>
    /// <param name="inner">The cause.</param>
    /// <param name="httpStatus">The handshake status, if the server answered with one.</param>
    public static TransportException Connection(string message, Exception? inner = null, int? httpStatus = null) =>
        new(TransportErrorKind.Connection, message, httpStatus: httpStatus, inner: inner);

    /// <summary>A handshake rejected with 401 or 403.</summary>
    /// <param name="httpStatus">401 or 403.</param>
    /// <param name="inner">The cause.</param>
    public static TransportException Auth(int httpStatus, Exception? inner = null) =>
        new(TransportErrorKind.Auth, $"The server rejected the handshake with HTTP {httpStatus}.", httpStatus: httpStatus, inner: inner);

    /// <summary>A handshake rejected with an HTTP status, classified into Auth (401/403) or Connection.</summary>
    /// <param name="httpStatus">The status the server answered with.</param>
    /// <param name="inner">The cause.</param>
    /// <param name="retryAfter">The wait the response's <c>Retry-After</c> header asked for, if any.</param>
    /// <remarks>
    /// The message says what the status means for the caller, never the URI:
    /// 404 "path not found on the server", 400 "bad request", 410 "gone" (all three Permanent by
    /// default, see <see cref="DefaultFailureClassifier"/>); 401/403 are Auth.
    /// </remarks>
    public static TransportException HandshakeRejected(int httpStatus, Exception? inner = null, TimeSpan? retryAfter = null)
    {
        var after = retryAfter is { } r ? $" (Retry-After {r.TotalSeconds:0.###} s)" : string.Empty;
        var meaning = httpStatus switch
        {
            400 => ": bad request (the server refused the upgrade request as sent; check the URI's query, the headers and the subprotocols)",
            404 => ": path not found on the server (check the URI's path)",
            410 => ": gone (the endpoint no longer exists on the server; check the URI)",
            _ => string.Empty,
        };
        var message = $"The server rejected the handshake with HTTP {httpStatus}{after}{meaning}.";
        return httpStatus is 401 or 403
            ? new(TransportErrorKind.Auth, message, httpStatus: httpStatus, inner: inner, retryAfter: retryAfter)
            : new(TransportErrorKind.Connection, message, httpStatus: httpStatus, inner: inner, retryAfter: retryAfter);
    }

    /// <summary>The connection is misconfigured (see <see cref="TransportErrorKind.Configuration"/>).</summary>
    /// <param name="message">What is wrong, free of secrets: name the setting or service, never a value.</param>
    /// <param name="inner">The cause (kept for debugging; <see cref="ToString"/> prints its type only).</param>
    public static TransportException Configuration(string message, Exception? inner = null) =>
        new(TransportErrorKind.Configuration, message, inner: inner);

    /// <summary>The TLS handshake failed authentication (see <see cref="TransportErrorKind.Tls"/>).</summary>
    /// <param name="message">What was rejected and why, free of secrets (no URI).</param>
    /// <param name="inner">The cause (an <c>AuthenticationException</c>, possibly wrapped).</param>
    public static TransportException Tls(string message, Exception? inner = null) =>
        new(TransportErrorKind.Tls, message, inner: inner);

    /// <summary>permessage-deflate failed on this connection (see <see cref="TransportErrorKind.Compression"/>).</summary>
    /// <param name="message">What failed, free of secrets (never a payload).</param>
    /// <param name="closeCode">The close code, if the failure closed the connection (1006 when it was dropped without a close frame).</param>
    /// <param name="inner">The cause (kept for debugging; <see cref="ToString"/> prints its type only).</param>
    public static TransportException Compression(string message, int? closeCode = null, Exception? inner = null) =>
        new(TransportErrorKind.Compression, message, closeCode: closeCode, inner: inner);

    /// <summary>A bounded wait ran out.</summary>
    /// <param name="message">What timed out.</param>
    /// <param name="inner">The cause.</param>
    public static TransportException Timeout(string message, Exception? inner = null) =>
        new(TransportErrorKind.Timeout, message, inner: inner);

    /// <summary>The peer broke the protocol; the connection is closed with <paramref name="closeCode"/>.</summary>
    /// <param name="message">What was wrong.</param>
    /// <param name="closeCode">The close code sent (1002 or 1007).</param>
    /// <param name="inner">The cause.</param>
    public static TransportException Protocol(string message, int closeCode = CloseCodes.ProtocolError, Exception? inner = null) =>
        new(TransportErrorKind.Protocol, message, closeCode: closeCode, inner: inner);

    /// <summary>A message exceeded the maximum message size; the connection is closed with 1009.</summary>
    /// <param name="limitBytes">The configured limit.</param>
    public static TransportException MessageTooBig(long limitBytes) =>
        new(TransportErrorKind.MessageTooBig, $"A message exceeded the maximum message size of {limitBytes} bytes; the connection was closed with 1009.", closeCode: CloseCodes.MessageTooBig);

    /// <summary>The peer closed the connection.</summary>
    /// <param name="closeCode">The peer's close code.</param>
    /// <param name="closeReason">The peer's reason.</param>
    public static TransportException ClosedByPeer(int closeCode, string? closeReason) =>
        new(TransportErrorKind.ClosedByPeer, $"The peer closed the connection with code {closeCode}.", closeCode: closeCode, closeReason: closeReason);

    /// <summary>The caller cancelled.</summary>
    /// <param name="inner">The cancellation.</param>
    public static TransportException Cancelled(Exception? inner = null) =>
        new(TransportErrorKind.Cancelled, "The operation was cancelled.", inner: inner);

    /// <summary>A send pinned to an epoch that ended before the frame reached a socket.</summary>
    /// <param name="pinnedEpoch">The epoch the send was pinned to.</param>
    public static TransportException StaleEpoch(long pinnedEpoch) =>
        new(TransportErrorKind.StaleEpoch, $"The send was pinned to epoch {pinnedEpoch}, which ended before the frame reached a socket.");

    /// <summary>The connection was shut down.</summary>
    /// <param name="message">What was refused.</param>
    public static TransportException Shutdown(string message = "The connection has been shut down.") =>
        new(TransportErrorKind.Shutdown, message);

    /// <summary>An at-most-once frame whose write started and did not complete; it is not resent.</summary>
    /// <param name="inner">Why the write did not complete.</param>
    public static TransportException WriteInterrupted(Exception? inner = null) =>
        new(TransportErrorKind.WriteInterrupted, "The frame's write was interrupted, so the peer may or may not have received it; sent with SendDelivery.AtMostOnce, it is not resent.", inner: inner);

    /// <summary>Kind, status, close code and message; the inner exception by type only (see remarks on the class).</summary>
    public override string ToString()
    {
        var status = HttpStatus is { } h ? $" http={h}" : string.Empty;
        var close = CloseCode is { } c ? $" close={c}" : string.Empty;
        var retry = RetryAfter is { } r ? $" retry-after={r.TotalSeconds:0.###}s" : string.Empty;
        var inner = InnerException is { } e ? $" (inner: {e.GetType().Name})" : string.Empty;
        return $"TransportException[{Kind}{status}{close}{retry}]: {Message}{inner}";
    }
}

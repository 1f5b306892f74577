namespace Transport;

/// <summary>Whether a failure is worth retrying forever.</summary>
public enum FailureClass
{
    /// <summary>Network loss, timeouts, handshakes answered 408, 429 or 5xx, abnormal closes: retry forever with backoff.</summary>
    Transient,

    /// <summary>
    /// Revoked keys, policy rejections, a handshake the server will never accept as sent (401/403,
    /// 400/404/410): a few retries, then the terminal Unrecoverable phase.
    /// </summary>
    Permanent,

    /// <summary>
    /// The stream is finished: the peer ended a finite stream on purpose (for example a normal
    /// close, 1000, after a replay or a bounded query). The connection ends in the phase
    /// <c>Closed</c> cleanly (not Exhausted, the source completes without an error) instead of
    /// reconnecting and replaying the stream. Never the default: a venue feed that closes with
    /// 1000 is reconnected (Transient). Adapters opt in for the streams they know to be finite:
    /// <c>DefaultFailureClassifier.RefinedBy(e => e.CloseCode == 1000 ? FailureClass.Finished : null)</c>.
    /// Applies to a session's end; a failed connect attempt classified Finished is treated as Transient.
    /// </summary>
    Finished,
}

/// <summary>
/// Maps an error (its kind, HTTP status and close code) to <see cref="FailureClass"/>. Adapters
/// refine the default by delegating to <see cref="DefaultFailureClassifier.Instance"/>.
/// </summary>
public interface IFailureClassifier
{
    /// <summary>Classifies one failure.</summary>
    /// <param name="error">The failure.</param>
    /// <returns>Transient or Permanent.</returns>
    FailureClass Classify(TransportException error);
}

/// <summary>
/// The default policy. Permanent: a handshake refused for who is asking (401, 403) or for what was
/// asked (400 bad request, 404 path not found, 410 gone: retrying the same request cannot succeed),
/// a configuration error (<see cref="TransportErrorKind.Configuration"/>) and a rejected server
/// certificate (<see cref="TransportErrorKind.Tls"/>). Everything else is Transient: network loss,
/// timeouts, abnormal closes, and handshakes answered 408 (request timeout), 429 (too many requests)
/// or 5xx (the server's trouble), as well as any other status.
/// </summary>
/// <remarks>
/// Permanent is not immediate: <c>Reconnect.PermanentRetries</c> more attempts are made (a venue
/// mid-deployment can answer 404 for a moment), then the connection ends <c>Unrecoverable</c> with
/// the error in <c>LastError</c>.
/// </remarks>
public sealed class DefaultFailureClassifier : IFailureClassifier
{
    /// <summary>The shared instance.</summary>
    public static DefaultFailureClassifier Instance { get; } = new();

    /// <inheritdoc />
    public FailureClass Classify(TransportException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.Kind is TransportErrorKind.Auth or TransportErrorKind.Configuration or TransportErrorKind.Tls || IsPermanentRefusal(error.HttpStatus)
            ? FailureClass.Permanent
            : FailureClass.Transient;
    }

    /// <summary>
    /// Whether a handshake answered with <paramref name="httpStatus"/> is refused for good by the
    /// default rules: 400, 401, 403, 404, 410. False for 408, 429, 5xx, any other status, and null.
    /// </summary>
    /// <param name="httpStatus">The handshake's HTTP status (<see cref="TransportException.HttpStatus"/>).</param>
    /// <returns>True when the default classifier calls it Permanent.</returns>
    public static bool IsPermanentRefusal(int? httpStatus) => httpStatus is 400 or 401 or 403 or 404 or 410;

    /// <summary>
    /// A classifier that asks <paramref name="refine"/> first and falls back to the default when it
    /// returns null.
    /// </summary>
    /// <param name="refine">The adapter's rule, for example "close code 1008 from this venue is Permanent".</param>
    /// <returns>The combined classifier.</returns>
    public static IFailureClassifier RefinedBy(Func<TransportException, FailureClass?> refine)
    {
        ArgumentNullException.ThrowIfNull(refine);
        return new Refined(refine);
    }

    private sealed class Refined(Func<TransportException, FailureClass?> refine) : IFailureClassifier
    {
        public FailureClass Classify(TransportException error) => refine(error) ?? Instance.Classify(error);
    }
}

namespace Transport;

/// <summary>Whether a failure is worth retrying forever.</summary>
public enum FailureClass
{
    /// <summary>Network loss, timeouts, 5xx handshakes, abnormal closes: retry forever with backoff.</summary>
    Transient,

    /// <summary>Revoked keys, policy rejections: a few retries, then the terminal Unrecoverable phase.</summary>
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
/// The default policy: a handshake answered 401 or 403, a configuration error
/// (<see cref="TransportErrorKind.Configuration"/>) and a rejected server certificate
/// (<see cref="TransportErrorKind.Tls"/>) are Permanent; everything else is Transient.
/// </summary>
public sealed class DefaultFailureClassifier : IFailureClassifier
{
    /// <summary>The shared instance.</summary>
    public static DefaultFailureClassifier Instance { get; } = new();

    /// <inheritdoc />
    public FailureClass Classify(TransportException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.Kind is TransportErrorKind.Auth or TransportErrorKind.Configuration or TransportErrorKind.Tls || error.HttpStatus is 401 or 403
            ? FailureClass.Permanent
            : FailureClass.Transient;
    }

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

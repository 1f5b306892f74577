namespace Transport.Mock;

/// <summary>How one scripted connect attempt ends.</summary>
public enum AttemptOutcomeKind
{
    /// <summary>The handshake succeeds and yields a <see cref="MockSocket"/>.</summary>
    Succeed,

    /// <summary>The handshake throws a <see cref="TransportException"/>.</summary>
    Fail,

    /// <summary>The handshake never completes until the attempt's token fires, then throws <see cref="OperationCanceledException"/> for that token.</summary>
    Hang,
}

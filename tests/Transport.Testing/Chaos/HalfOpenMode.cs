namespace Transport.Testing.Chaos;

/// <summary>What a half-open direction does with the bytes it no longer forwards.</summary>
public enum HalfOpenMode
{
    /// <summary>
    /// Keep reading from the source and drop every byte (counted in <see cref="ChaosProxy.BytesDiscarded"/>).
    /// The sender's writes keep succeeding and the data is lost for good: after
    /// <see cref="ChaosProxy.Resume"/> only bytes written later arrive. This is the default: it models a
    /// peer that silently stopped answering.
    /// </summary>
    Discard,

    /// <summary>
    /// Stop reading from the source; the chunk in hand and everything behind it waits (in the proxy and
    /// then in kernel buffers, so the sender eventually blocks). After <see cref="ChaosProxy.Resume"/> the
    /// held bytes are delivered in order. Models a stalled path.
    /// </summary>
    Hold,
}

namespace Transport.Testing.Chaos;

/// <summary>How <see cref="ChaosProxy.CutAll"/> tears a connection down.</summary>
public enum CutMode
{
    /// <summary>Graceful: shutdown both directions (FIN to each peer), then close. A reader sees end of stream.</summary>
    Fin,

    /// <summary>Abortive: linger on with a zero timeout, then close, so the kernel sends RST. A reader sees a connection reset.</summary>
    Rst,
}

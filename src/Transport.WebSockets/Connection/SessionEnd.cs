namespace Transport.WebSockets.Connection;

/// <summary>Why a connected session ended.</summary>
internal enum SessionEndReason
{
    /// <summary>The socket failed, the peer closed, or the idle timeout fired.</summary>
    Failed,

    /// <summary>ForceReconnect was called.</summary>
    Forced,

    /// <summary>ShutdownAsync was called.</summary>
    Shutdown,

    /// <summary>A make-before-break rotation switched to the next socket: this one closes with 1000 and nothing goes down.</summary>
    Rotated,
}

/// <summary>The first reason a session ended, with its error when it failed.</summary>
internal readonly record struct SessionEnd(SessionEndReason Reason, TransportException? Error)
{
    public static SessionEnd Forced { get; } = new(SessionEndReason.Forced, null);

    public static SessionEnd Shutdown { get; } = new(SessionEndReason.Shutdown, null);

    public static SessionEnd Rotated { get; } = new(SessionEndReason.Rotated, null);

    public static SessionEnd Failed(TransportException error) => new(SessionEndReason.Failed, error);
}

namespace Transport;

/// <summary>Where a reconnecting connection is in its life.</summary>
public enum ConnectionPhase
{
    /// <summary>The first connection is being established.</summary>
    Connecting,

    /// <summary>The first connection (epoch 0) is up and frames flow.</summary>
    Connected,

    /// <summary>No frame for <c>StaleAfter</c>: a warning; the socket stays up.</summary>
    Stale,

    /// <summary>The connection was lost and is being rebuilt; the feed is down.</summary>
    Reconnecting,

    /// <summary>A connection after a down-cycle is up (epoch advanced); the adapter must replay state.</summary>
    Resumed,

    /// <summary>Terminal: a permanent failure outlived its retries, or MaxAttempts ran out.</summary>
    Unrecoverable,

    /// <summary>Terminal: shut down by its owner.</summary>
    Closed,
}

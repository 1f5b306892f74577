namespace Transport.WebSockets.Reconnect;

/// <summary>How a connect cycle (or a session's end) was judged.</summary>
internal enum ConnectVerdict
{
    /// <summary>An attempt succeeded.</summary>
    Connected,

    /// <summary>A Permanent failure outlived its retries.</summary>
    Unrecoverable,

    /// <summary>The voluntary MaxAttempts cap ran out.</summary>
    Exhausted,

    /// <summary>The cycle was cancelled (shutdown).</summary>
    Cancelled,

    /// <summary>The session ended a finite stream (<see cref="FailureClass.Finished"/>): Closed, cleanly, no reconnect.</summary>
    Finished,
}

/// <summary>The result of one connect cycle.</summary>
internal readonly record struct ConnectOutcome(ConnectVerdict Verdict, ILeafConnection? Connection, TransportException? Error);

namespace Transport.Mock;

/// <summary>What <see cref="MockSocket"/> does with a send.</summary>
public enum SendBehavior
{
    /// <summary>Record the frame (payload copied) and complete at once.</summary>
    Complete,

    /// <summary>Record nothing and never complete until the send's token fires (then <see cref="OperationCanceledException"/>) or the socket is disposed.</summary>
    Hang,

    /// <summary>Record nothing and throw <see cref="MockSocket.SendError"/>.</summary>
    Fail,
}

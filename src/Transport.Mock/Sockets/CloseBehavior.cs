namespace Transport.Mock;

/// <summary>What <see cref="MockSocket"/> does with <see cref="ILeafSender.CloseAsync"/>.</summary>
public enum CloseBehavior
{
    /// <summary>Record <see cref="MockSocket.CloseSent"/> and complete at once; the peer answers instantly: its close (same code) is delivered on the receive side after the frames already delivered.</summary>
    Complete,

    /// <summary>Record <see cref="MockSocket.CloseSent"/> (the frame went out) but never hear the peer: completes only when the token fires (then <see cref="OperationCanceledException"/>) or the socket is disposed.</summary>
    Hang,

    /// <summary>Record nothing and throw <see cref="MockSocket.CloseError"/>.</summary>
    Fail,
}

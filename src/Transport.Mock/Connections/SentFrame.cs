namespace Transport.Mock;

/// <summary>A frame the code under test sent through a <see cref="FakeReconnectingConnection"/>'s sink.</summary>
/// <param name="Frame">The frame as sent.</param>
/// <param name="Options">The lane and epoch pin it was sent with.</param>
/// <param name="Epoch">
/// The fake connection's epoch when the sink accepted it; for a send through a session initializer's
/// context, the epoch of the socket being initialized (the up-edge publishes it next).
/// </param>
/// <param name="ByInitializer">True when a session initializer sent it, before the up-edge.</param>
public sealed record SentFrame(Frame Frame, SendOptions Options, long Epoch, bool ByInitializer = false)
{
    /// <summary>The frame's payload as UTF-8 text (for text frames).</summary>
    public string Text => Frame.GetText();
}

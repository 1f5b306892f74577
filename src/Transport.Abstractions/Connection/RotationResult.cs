namespace Transport;

/// <summary>How a make-before-break rotation (<see cref="IConnectionControl.RotateAsync"/>) ended.</summary>
public enum RotationOutcome
{
    /// <summary>
    /// The next socket went up (connected, authenticated, session initializer done), <c>Source</c> switched
    /// to it and the old socket was closed with 1000: one epoch advance, no down-edge.
    /// </summary>
    Rotated,

    /// <summary>
    /// The old socket died before the next one was up: an ordinary reconnect (a down-edge, then Resumed),
    /// served by the socket the rotation had already opened (no second socket, one epoch advance).
    /// </summary>
    Reconnected,

    /// <summary>
    /// The next socket failed (connect, auth, session initializer or its timeout): the old socket keeps
    /// serving; <see cref="RotationResult.Error"/> says why (also in <c>Lifecycle.Current.LastError</c> and the log).
    /// </summary>
    Failed,

    /// <summary>Nothing was done: no session was up to rotate, or the connection is shutting down or has ended.</summary>
    Skipped,
}

/// <summary>The result of one rotation.</summary>
/// <param name="Outcome">How it ended.</param>
/// <param name="Epoch">The epoch serving after it (the new one when rotated or reconnected; the old one when it failed).</param>
/// <param name="Overlap">How long both sockets were open: from the next socket's connect to the old socket's end (zero unless rotated).</param>
/// <param name="DuplicatesDropped">Keyed frames received on both sockets and dropped as copies during the overlap.</param>
/// <param name="Error">Why the next socket failed (<see cref="RotationOutcome.Failed"/>); null otherwise.</param>
public sealed record RotationResult(RotationOutcome Outcome, long Epoch, TimeSpan Overlap, long DuplicatesDropped, TransportException? Error)
{
    /// <summary>A result that did nothing, at <paramref name="epoch"/>.</summary>
    /// <param name="epoch">The current epoch.</param>
    /// <returns>The result.</returns>
    public static RotationResult Skipped(long epoch) => new(RotationOutcome.Skipped, epoch, TimeSpan.Zero, 0, null);

    /// <summary>Outcome, epoch, overlap and duplicates; the error's kind and codes only (no message).</summary>
    public override string ToString() =>
        $"{Outcome} at epoch {Epoch} (overlap {Overlap.TotalMilliseconds:0} ms, {DuplicatesDropped} duplicates dropped{(Error is null ? string.Empty : ", " + Error.Kind)})";
}

namespace Transport.Testing.Chaos;

/// <summary>
/// One armed mid-frame cut. The first server-to-client pump with a chunk claims it; from then on that pump
/// forwards exactly the budget (the requested prefix, or half of the claiming chunk) and, on the first chunk
/// that would go past it, forwards only the part inside the budget and resets the connection. The client
/// therefore receives a strict prefix of what the server sent, of exactly the budgeted length.
/// </summary>
internal sealed class MidFrameCut
{
    private readonly int? _prefixBytes;
    private readonly TaskCompletionSource<int> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Only touched by the one pump that claimed the cut (claiming is an Interlocked exchange).
    private int _remaining = -1;
    private int _forwarded;

    public MidFrameCut(int? prefixBytes) => _prefixBytes = prefixBytes;

    /// <summary>Completes with the number of bytes forwarded before the reset.</summary>
    public Task<int> Completion => _done.Task;

    /// <summary>How many bytes of a chunk to forward; <paramref name="cutAfter"/> says to reset right after.</summary>
    public int Plan(int chunkLength, out bool cutAfter)
    {
        if (_remaining < 0)
        {
            _remaining = _prefixBytes ?? chunkLength / 2;
        }

        cutAfter = chunkLength > _remaining;
        var forward = cutAfter ? _remaining : chunkLength;
        _remaining -= forward;
        _forwarded += forward;
        return forward;
    }

    public void Complete() => _done.TrySetResult(_forwarded);

    /// <summary>The connection ended (or the cut was replaced) before the cut happened.</summary>
    public void Abandon() => _done.TrySetCanceled();
}

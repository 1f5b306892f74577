using Transport;

namespace Transport.Tests.Buffering;

/// <summary>
/// The ring's rules written the obvious way (a list, O(n) removal) to check the real ring against.
/// </summary>
internal sealed class RingReferenceModel(int capacityFrames, long capacityBytes)
{
    private readonly List<Frame> _frames = [];

    public int Count => _frames.Count;
    public int NextLength => _frames[0].Length;
    public long Bytes { get; private set; }
    public long PeakBytes { get; private set; }
    public long TotalWritten { get; private set; }
    public long TotalRead { get; private set; }
    public long TotalLagged { get; private set; }
    public bool Completed { get; private set; }
    public Exception? Error { get; private set; }

    /// <summary>True when a new frame would fit next to what is buffered.</summary>
    private bool Fits(int length) => _frames.Count + 1 <= capacityFrames && Bytes + length <= capacityBytes;

    public int Write(Frame frame)
    {
        if (Completed)
        {
            return 0;
        }

        int evicted = 0;
        while (_frames.Count > 0 && !Fits(frame.Length))
        {
            Bytes -= _frames[0].Length;
            _frames.RemoveAt(0);
            evicted++;
        }

        _frames.Add(frame);
        Bytes += frame.Length;
        PeakBytes = Math.Max(PeakBytes, Bytes);
        TotalWritten++;
        TotalLagged += evicted;
        return evicted;
    }

    public bool TryRead(out Frame frame)
    {
        if (_frames.Count == 0)
        {
            frame = default;
            return false;
        }

        frame = _frames[0];
        _frames.RemoveAt(0);
        Bytes -= frame.Length;
        TotalRead++;
        return true;
    }

    public void Complete(Exception? error)
    {
        if (!Completed)
        {
            Completed = true;
            Error = error;
        }
    }

    /// <summary>What a wait started now answers: "true", "false", "error", or "pending".</summary>
    public string WaitOutcome() =>
        _frames.Count > 0 ? "true" : !Completed ? "pending" : Error is null ? "false" : "error";
}

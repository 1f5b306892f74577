namespace Transport.Testing.Chaos;

/// <summary>The proxy-wide fault settings shared by every connection and pump.</summary>
internal sealed class ChaosPolicy
{
    private MidFrameCut? _armedCut;
    private int _blackhole;

    public DirectionPolicy ClientToServer { get; } = new();

    public DirectionPolicy ServerToClient { get; } = new();

    /// <summary>Read once per accepted connection: a connection is blackholed for its whole life or not at all.</summary>
    public bool Blackhole
    {
        get => Volatile.Read(ref _blackhole) != 0;
        set => Volatile.Write(ref _blackhole, value ? 1 : 0);
    }

    public DirectionPolicy For(Direction single) =>
        single == Direction.ClientToServer ? ClientToServer : ServerToClient;

    public IEnumerable<DirectionPolicy> Select(Direction directions)
    {
        if (directions.HasFlag(Direction.ClientToServer))
        {
            yield return ClientToServer;
        }

        if (directions.HasFlag(Direction.ServerToClient))
        {
            yield return ServerToClient;
        }
    }

    /// <summary>Arms a cut; a previously armed, unclaimed cut is abandoned (its task is cancelled).</summary>
    public void ArmCut(MidFrameCut cut) => Interlocked.Exchange(ref _armedCut, cut)?.Abandon();

    /// <summary>Claims the armed cut, if any; at most one pump ever gets it.</summary>
    public MidFrameCut? TakeCut() => Interlocked.Exchange(ref _armedCut, null);
}

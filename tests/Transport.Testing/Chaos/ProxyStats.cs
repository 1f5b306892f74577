namespace Transport.Testing.Chaos;

/// <summary>
/// The proxy's counters. Every change pulses <see cref="Signal"/> so waiters re-check their condition.
/// All fields are written with Interlocked and read with Volatile/Interlocked: pumps run concurrently.
/// </summary>
internal sealed class ProxyStats
{
    private long _readFromClient;
    private long _readFromServer;
    private long _clientToServer;
    private long _serverToClient;
    private long _discarded;
    private int _activeConnections;
    private int _totalAccepted;
    private int _refused;
    private int _activePumps;
    private int _upstreamConnects;
    private int _upstreamFailures;

    public StateSignal Signal { get; } = new();

    public long ReadFromClient => Interlocked.Read(ref _readFromClient);
    public long ReadFromServer => Interlocked.Read(ref _readFromServer);
    public long ClientToServer => Interlocked.Read(ref _clientToServer);
    public long ServerToClient => Interlocked.Read(ref _serverToClient);
    public long Discarded => Interlocked.Read(ref _discarded);
    public int ActiveConnections => Volatile.Read(ref _activeConnections);
    public int TotalAccepted => Volatile.Read(ref _totalAccepted);
    public int Refused => Volatile.Read(ref _refused);
    public int ActivePumps => Volatile.Read(ref _activePumps);
    public int UpstreamConnects => Volatile.Read(ref _upstreamConnects);
    public int UpstreamFailures => Volatile.Read(ref _upstreamFailures);

    public void AddRead(Direction direction, int bytes) =>
        Add(ref (direction == Direction.ClientToServer ? ref _readFromClient : ref _readFromServer), bytes);

    public void AddForwarded(Direction direction, int bytes) =>
        Add(ref (direction == Direction.ClientToServer ? ref _clientToServer : ref _serverToClient), bytes);

    public void AddDiscarded(int bytes) => Add(ref _discarded, bytes);

    public void ConnectionAccepted()
    {
        Interlocked.Increment(ref _activeConnections);
        Bump(ref _totalAccepted);
    }

    public void ConnectionClosed() => Bump(ref _activeConnections, -1);

    public void ConnectionRefused() => Bump(ref _refused);

    public void PumpStarted() => Bump(ref _activePumps);

    public void PumpStopped() => Bump(ref _activePumps, -1);

    public void UpstreamConnected() => Bump(ref _upstreamConnects);

    public void UpstreamFailed() => Bump(ref _upstreamFailures);

    private void Add(ref long field, int bytes)
    {
        Interlocked.Add(ref field, bytes);
        Signal.Pulse();
    }

    private void Bump(ref int field, int delta = 1)
    {
        Interlocked.Add(ref field, delta);
        Signal.Pulse();
    }
}

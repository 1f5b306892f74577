namespace Transport.Testing.Chaos;

/// <summary>Which direction(s) of the proxied byte stream a command applies to.</summary>
[Flags]
public enum Direction
{
    /// <summary>Bytes the client writes, on their way to the upstream server.</summary>
    ClientToServer = 1,

    /// <summary>Bytes the upstream server writes, on their way to the client.</summary>
    ServerToClient = 2,

    /// <summary>Both directions.</summary>
    Both = ClientToServer | ServerToClient,
}

namespace Transport;

/// <summary>What a leaf can see and what it does by itself; the stack adapts liveness and batching to it.</summary>
[Flags]
public enum LeafCapabilities
{
    /// <summary>Nothing beyond data and close frames.</summary>
    None = 0,

    /// <summary>Received pings are returned by <see cref="ILeafReceiver.ReceiveAsync"/>; the stack answers them.</summary>
    SurfacesPings = 1,

    /// <summary>Received pongs are returned by <see cref="ILeafReceiver.ReceiveAsync"/> (proof of life for keep-alive probes).</summary>
    SurfacesPongs = 2,

    /// <summary>The leaf answers pings itself, invisibly to the stack (ClientWebSocket does).</summary>
    AnswersPingsItself = 4,

    /// <summary>The leaf runs its own keep-alive probe and fails the receive when the peer stops answering.</summary>
    KeepAliveProbe = 8,

    /// <summary><see cref="ILeafReceiver.TryReceive"/> can return frames already parsed from one socket read.</summary>
    BatchReceive = 16,
}

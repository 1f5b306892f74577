namespace Transport;

/// <summary>The kind of a WebSocket message as the transport sees it.</summary>
public enum FrameKind : byte
{
    /// <summary>A UTF-8 text message. The payload holds the UTF-8 bytes.</summary>
    Text = 0,

    /// <summary>A binary message.</summary>
    Binary = 1,

    /// <summary>A protocol ping. Consumed by the stack (answered with a pong), never yielded to the adapter.</summary>
    Ping = 2,

    /// <summary>A protocol pong. Consumed by the stack, never yielded to the adapter.</summary>
    Pong = 3,

    /// <summary>A close frame with a code and a reason. Becomes a lifecycle transition.</summary>
    Close = 4,
}

namespace Transport.Testing.LeafContract;

/// <summary>
/// The far end of one leaf connection, as the contract suite drives it: a raw server over loopback
/// for the real leaves, the scripted socket's own API for the mock.
/// </summary>
public interface ILeafPeer : IAsyncDisposable
{
    /// <summary>The client side under test.</summary>
    ILeafConnection Connection { get; }

    /// <summary>Sends one message, in fragments of <paramref name="fragmentBytes"/> when given.</summary>
    /// <param name="payload">The bytes.</param>
    /// <param name="text">Text (true) or binary.</param>
    /// <param name="fragmentBytes">Bytes per fragment; null: one frame.</param>
    /// <returns>Completes when written.</returns>
    Task SendAsync(byte[] payload, bool text, int? fragmentBytes = null);

    /// <summary>Sends a ping.</summary>
    /// <param name="payload">At most 125 bytes.</param>
    /// <returns>Completes when written.</returns>
    Task SendPingAsync(byte[] payload);

    /// <summary>Sends a close frame.</summary>
    /// <param name="code">The code.</param>
    /// <param name="reason">The reason.</param>
    /// <returns>Completes when written.</returns>
    Task SendCloseAsync(int code, string? reason);

    /// <summary>Sends a text message that is not valid UTF-8 (the mock fails the receive as a leaf would).</summary>
    /// <returns>Completes when written.</returns>
    Task SendInvalidUtf8Async();

    /// <summary>Sends a message of <paramref name="bytes"/> bytes, beyond the client's limit (the mock fails the receive as a leaf would).</summary>
    /// <param name="bytes">The message size.</param>
    /// <returns>Completes when written (or when the client stopped reading).</returns>
    Task SendOversizedAsync(int bytes);

    /// <summary>Drops the connection without a close frame.</summary>
    void Abort();

    /// <summary>The next frame the client sent (data, ping, pong or close), or null when the connection ended.</summary>
    /// <returns>The frame.</returns>
    Task<Frame?> ReceiveAsync();
}

using System.Net.WebSockets;
using System.Text;

namespace Transport.Testing;

/// <summary>One whole message (or the close) the server-side socket received.</summary>
/// <param name="Type">Text, Binary or Close.</param>
/// <param name="Payload">The reassembled payload (empty for a close).</param>
/// <param name="CloseStatus">The client's close code, for a close.</param>
/// <param name="CloseDescription">The client's close reason, for a close.</param>
public sealed record ServerMessage(WebSocketMessageType Type, byte[] Payload, int? CloseStatus, string? CloseDescription)
{
    /// <summary>The payload decoded as UTF-8.</summary>
    public string Text => Encoding.UTF8.GetString(Payload);
}

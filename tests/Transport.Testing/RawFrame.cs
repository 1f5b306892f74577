namespace Transport.Testing;

/// <summary>One frame read off the wire by <see cref="RawWebSocketWriter"/>, already unmasked.</summary>
/// <param name="Opcode">The opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong).</param>
/// <param name="Fin">The FIN bit.</param>
/// <param name="Payload">The unmasked payload.</param>
/// <param name="Rsv">The RSV1-3 bits (RSV1 = 4: a permessage-deflate compressed message).</param>
public sealed record RawFrame(int Opcode, bool Fin, byte[] Payload, int Rsv = 0)
{
    /// <summary>The close code of a close frame, or null.</summary>
    public int? CloseCode => Opcode == RawWebSocketWriter.OpClose && Payload.Length >= 2 ? (Payload[0] << 8) | Payload[1] : null;
}

namespace Transport.Benchmarks.Server;

/// <summary>
/// A block of identical pre-framed messages, built once. Before each write only the 16 sequence
/// digits of every frame are patched in place (and the stamp, when stamping), so the server's
/// cost per message is a few bytes of hex plus its share of one large stream write.
/// </summary>
internal sealed class FrameBlock
{
    private readonly byte[] _bytes;
    private readonly int _frameBytes;
    private readonly int _headerBytes;

    public FrameBlock(int opcode, int payloadBytes, int frames)
    {
        if (payloadBytes < Payload.StampedBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(payloadBytes), "Payloads carry a 32-byte sequence + stamp.");
        }

        _headerBytes = Payload.HeaderLength(payloadBytes);
        _frameBytes = _headerBytes + payloadBytes;
        Frames = frames;
        _bytes = new byte[(long)_frameBytes * frames];
        for (int i = 0; i < frames; i++)
        {
            var frame = _bytes.AsSpan(i * _frameBytes, _frameBytes);
            Payload.WriteHeader(frame, opcode, payloadBytes);
            frame[_headerBytes..].Fill((byte)'x');
            Payload.WriteHex(frame.Slice(_headerBytes + Payload.SeqBytes), 0);
        }
    }

    public int Frames { get; }

    public int FrameBytes => _frameBytes;

    /// <summary>Patches frames [0, count) with sequence numbers firstSeq.. and returns the bytes to write.</summary>
    /// <remarks><paramref name="tag"/> (when not 0) goes in bytes [32, 48) as 16 hex digits (<see cref="Payload.ReadTag"/>).</remarks>
    public ReadOnlyMemory<byte> Prepare(long firstSeq, int count, long stamp = 0, long tag = 0)
    {
        for (int i = 0; i < count; i++)
        {
            var payload = _bytes.AsSpan(i * _frameBytes + _headerBytes);
            Payload.WriteHex(payload, firstSeq + i);
            if (stamp != 0)
            {
                Payload.WriteHex(payload[Payload.SeqBytes..], stamp);
            }

            if (tag != 0)
            {
                Payload.WriteHex(payload[Payload.StampedBytes..], tag);
            }
        }

        return _bytes.AsMemory(0, count * _frameBytes);
    }
}

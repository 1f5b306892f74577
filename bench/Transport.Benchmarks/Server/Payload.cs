using System.Buffers.Binary;

namespace Transport.Benchmarks.Server;

/// <summary>
/// The payload layout every scenario uses: bytes [0,16) the message's sequence number and bytes
/// [16,32) (when present) a Stopwatch timestamp, both as 16 lower-case hex digits so a text
/// payload stays valid UTF-8; the rest is filler.
/// </summary>
internal static class Payload
{
    public const int SeqBytes = 16;
    public const int StampedBytes = 32;

    public static void WriteHex(Span<byte> destination, long value)
    {
        for (int i = 15; i >= 0; i--)
        {
            int nibble = (int)(value & 0xF);
            destination[i] = (byte)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
            value >>>= 4;
        }
    }

    public static long ReadHex(ReadOnlySpan<byte> source)
    {
        long value = 0;
        for (int i = 0; i < 16; i++)
        {
            int c = source[i];
            value = (value << 4) | (long)(c <= '9' ? c - '0' : c - 'a' + 10);
        }

        return value;
    }

    public static long ReadSeq(ReadOnlySpan<byte> payload) => ReadHex(payload);

    public static long ReadStamp(ReadOnlySpan<byte> payload) => ReadHex(payload[SeqBytes..]);

    /// <summary>The optional tag in bytes [32, 48) (0 when the writer set none: the filler is 'x').</summary>
    public static long ReadTag(ReadOnlySpan<byte> payload) => payload.Length >= StampedBytes + 16 && payload[StampedBytes] != (byte)'x' ? ReadHex(payload[StampedBytes..]) : 0;

    /// <summary>Writes an unmasked server frame header; returns its length.</summary>
    public static int WriteHeader(Span<byte> destination, int opcode, long length)
    {
        destination[0] = (byte)(0x80 | opcode);
        if (length < 126)
        {
            destination[1] = (byte)length;
            return 2;
        }

        if (length <= ushort.MaxValue)
        {
            destination[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
            return 4;
        }

        destination[1] = 127;
        BinaryPrimitives.WriteInt64BigEndian(destination[2..], length);
        return 10;
    }

    public static int HeaderLength(long length) => length < 126 ? 2 : length <= ushort.MaxValue ? 4 : 10;
}

using System.Globalization;
using System.Text;

namespace Transport.IntegrationTests.Stack;

/// <summary>
/// The feed's message format: "C{connection:D6}S{sequence:D10}" padded with 'x'. The connection is the
/// server's connection number (one per client epoch), so a test can check order per epoch.
/// </summary>
internal readonly record struct FeedFrame(int Connection, long Sequence)
{
    public const int HeaderBytes = 18;

    public static byte[] Encode(int connection, long sequence, int size)
    {
        var bytes = new byte[Math.Max(size, HeaderBytes)];
        bytes.AsSpan().Fill((byte)'x');
        Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"C{connection:D6}S{sequence:D10}"), bytes);
        return bytes;
    }

    /// <summary>Rewrites the header of a reused buffer (no allocation per frame: floods must not add garbage).</summary>
    public static void EncodeInto(Span<byte> buffer, int connection, long sequence)
    {
        buffer[0] = (byte)'C';
        WriteDigits(buffer[1..7], connection);
        buffer[7] = (byte)'S';
        WriteDigits(buffer[8..18], sequence);
    }

    public static FeedFrame Decode(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < HeaderBytes || payload[0] != (byte)'C' || payload[7] != (byte)'S')
        {
            throw new FormatException($"Not a feed frame ({payload.Length} B).");
        }

        return new FeedFrame(
            int.Parse(Encoding.ASCII.GetString(payload[1..7]), CultureInfo.InvariantCulture),
            long.Parse(Encoding.ASCII.GetString(payload[8..18]), CultureInfo.InvariantCulture));
    }

    private static void WriteDigits(Span<byte> digits, long value)
    {
        for (var i = digits.Length - 1; i >= 0; i--)
        {
            digits[i] = (byte)('0' + (value % 10));
            value /= 10;
        }
    }
}

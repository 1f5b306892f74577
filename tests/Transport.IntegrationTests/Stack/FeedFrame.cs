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
}

using System.Text;

namespace Transport.Tests.Leaf.Differential;

/// <summary>How a client run ended.</summary>
internal enum EndKind
{
    /// <summary>The server's close frame was received (code and reason as reported).</summary>
    PeerClose,

    /// <summary>The client failed the connection (a protocol violation it found); it may have sent a close code.</summary>
    Failed,

    /// <summary>A message passed the size limit.</summary>
    TooBig,

    /// <summary>The stream ended without a close frame.</summary>
    ConnectionLost,

    /// <summary>The client stopped making progress on input it already had (a hang).</summary>
    Stalled,
}

/// <summary>What one client made of one server byte stream: the data messages it delivered and how it ended.</summary>
internal sealed record RunResult(IReadOnlyList<(FrameKind Kind, byte[] Payload)> Messages, EndKind End, int? CloseCode, string? CloseReason, int? SentCloseCode, string Detail)
{
    /// <summary>Oracle only: indexes of messages the Pipelines leaf may refuse with 1003 (a final block inside a frame, Deflate.I3).</summary>
    public IReadOnlyList<int> UnsupportedLayoutAt { get; init; } = [];

    /// <summary>Pipelines leaf only: how many final (BFINAL=1) blocks ended a deflate stream.</summary>
    public int FinalBlocks { get; init; }

    public string Describe()
    {
        var text = new StringBuilder();
        text.Append(Messages.Count).Append(" messages");
        foreach (var (kind, payload) in Messages.Take(12))
        {
            text.Append(" [").Append(kind).Append(' ').Append(payload.Length).Append(" B #").Append(Hash(payload)).Append(']');
        }

        if (Messages.Count > 12)
        {
            text.Append(" ...");
        }

        text.Append("; end ").Append(End);
        if (CloseCode is not null)
        {
            text.Append(" close ").Append(CloseCode).Append(" '").Append(CloseReason).Append('\'');
        }

        if (SentCloseCode is not null)
        {
            text.Append(" sent ").Append(SentCloseCode);
        }

        return text.Append(" (").Append(Detail).Append(')').ToString();
    }

    internal static string Hash(byte[] payload)
    {
        var h = 17u;
        foreach (var b in payload)
        {
            h = (h * 31) + b;
        }

        return h.ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>permessage-deflate as the server agreed it.</summary>
internal sealed record DeflateSession(bool ServerNoContextTakeover, int ServerMaxWindowBits, string Encoder);

/// <summary>One generated server byte stream, how it is split into socket reads, and (for streams built valid or with one known violation) what RFC 6455/7692 say a client must make of it.</summary>
internal sealed class ServerCase
{
    public required long Seed { get; init; }

    public required int Index { get; init; }

    public required string Category { get; init; }

    public DeflateSession? Deflate { get; init; }

    public required int MaxMessageBytes { get; init; }

    public required byte[] Stream { get; init; }

    public required IReadOnlyList<int> ReadSizes { get; init; }

    /// <summary>The expected result when the generator knows it (null for random mutations: then only the two clients are compared).</summary>
    public RunResult? Oracle { get; init; }

    /// <summary>Features a documented difference may depend on ("final-block", "compressed-control", ...).</summary>
    public required IReadOnlySet<string> Features { get; init; }

    /// <summary>The frames as generated, for the failure report.</summary>
    public required IReadOnlyList<string> FrameLog { get; init; }

    public IEnumerable<ReadOnlyMemory<byte>> Chunks()
    {
        var offset = 0;
        foreach (var size in ReadSizes)
        {
            if (offset >= Stream.Length)
            {
                yield break;
            }

            var n = Math.Min(size, Stream.Length - offset);
            yield return Stream.AsMemory(offset, n);
            offset += n;
        }

        if (offset < Stream.Length)
        {
            yield return Stream.AsMemory(offset);
        }
    }

    public string Describe() =>
        $"case {Index} ({Category}); deflate: {(Deflate is null ? "off" : $"server_no_context_takeover={Deflate.ServerNoContextTakeover}, server_max_window_bits={Deflate.ServerMaxWindowBits}, encoder={Deflate.Encoder}")}; limit {MaxMessageBytes} B; {Stream.Length} B in {ReadSizes.Count} reads; features [{string.Join(", ", Features)}]{Environment.NewLine}  frames: {string.Join(" | ", FrameLog.Take(40))}";
}

/// <summary>Where a stream ends, walked frame by frame the way a parser reads it (mutations included).</summary>
internal static class StreamShape
{
    /// <summary>True when the stream ends inside a frame (its header or its declared payload).</summary>
    public static bool EndsInsideFrame(byte[] stream) => Walk(stream).InsideFrame;

    /// <summary>True when the stream ends inside a frame, or between the fragments of a message.</summary>
    public static bool EndsInsideFrameOrMessage(byte[] stream) => Walk(stream) is { InsideFrame: true } or { InsideMessage: true };

    private static (bool InsideFrame, bool InsideMessage) Walk(byte[] stream)
    {
        long offset = 0;
        var inMessage = false;
        while (offset < stream.Length)
        {
            if (stream.Length - offset < 2)
            {
                return (true, inMessage);
            }

            var fin = (stream[offset] & 0x80) != 0;
            var opcode = stream[offset] & 0xF;

            long length = stream[offset + 1] & 0x7F;
            var header = 2 + ((stream[offset + 1] & 0x80) != 0 ? 4 : 0);
            if (length == 126)
            {
                if (stream.Length - offset < 4)
                {
                    return (true, inMessage);
                }

                length = (stream[offset + 2] << 8) | stream[offset + 3];
                header += 2;
            }
            else if (length == 127)
            {
                if (stream.Length - offset < 10)
                {
                    return (true, inMessage);
                }

                length = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(stream.AsSpan((int)offset + 2));
                header += 8;
                if (length < 0)
                {
                    return (false, inMessage);
                }
            }

            if (stream.Length - offset < header + length)
            {
                return (true, inMessage);
            }

            if (opcode is 1 or 2)
            {
                inMessage = !fin;
            }
            else if (opcode == 0 && fin)
            {
                inMessage = false;
            }

            offset += header + length;
        }

        return (false, inMessage);
    }
}

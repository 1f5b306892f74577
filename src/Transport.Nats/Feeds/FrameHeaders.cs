using System.Globalization;
using System.Text;
using NATS.Client.Core;

namespace Transport.Nats.Feeds;

/// <summary>The values of <see cref="RelayHeaders"/> on one published frame.</summary>
internal readonly record struct FrameHeaderValues(
    FrameKind Kind,
    long Epoch,
    long ReceivedAtUnixMicros,
    long Sequence,
    long Lagged,
    long Generation)
{
    public static NatsHeaders ToHeaders(in FrameHeaderValues v, string feed)
    {
        var headers = new NatsHeaders(7)
        {
            [RelayHeaders.Kind] = v.Kind == FrameKind.Binary ? "binary" : "text",
            [RelayHeaders.Epoch] = v.Epoch.ToString(CultureInfo.InvariantCulture),
            [RelayHeaders.ReceivedAt] = v.ReceivedAtUnixMicros.ToString(CultureInfo.InvariantCulture),
            [RelayHeaders.Sequence] = v.Sequence.ToString(CultureInfo.InvariantCulture),
            [RelayHeaders.Lagged] = v.Lagged.ToString(CultureInfo.InvariantCulture),
            [RelayHeaders.Generation] = v.Generation.ToString(CultureInfo.InvariantCulture),
            [RelayHeaders.MessageId] = MessageId(feed, v.Generation, v.Sequence),
        };
        return headers;
    }

    public static string MessageId(string feed, long generation, long sequence) =>
        string.Create(CultureInfo.InvariantCulture, $"{feed}-{generation}-{sequence}");

    /// <summary>Reads the relay's headers; false when one is missing or malformed (not a relay frame).</summary>
    public static bool TryRead(NatsHeaders? headers, out FrameHeaderValues values)
    {
        values = default;
        if (headers is null
            || !headers.TryGetLastValue(RelayHeaders.Kind, out var kind)
            || !TryLong(headers, RelayHeaders.Epoch, out long epoch)
            || !TryLong(headers, RelayHeaders.ReceivedAt, out long receivedAt)
            || !TryLong(headers, RelayHeaders.Sequence, out long sequence)
            || !TryLong(headers, RelayHeaders.Lagged, out long lagged)
            || !TryLong(headers, RelayHeaders.Generation, out long generation))
        {
            return false;
        }

        FrameKind frameKind;
        if (kind == "text")
        {
            frameKind = FrameKind.Text;
        }
        else if (kind == "binary")
        {
            frameKind = FrameKind.Binary;
        }
        else
        {
            return false;
        }

        if (sequence < 1 || epoch < 0 || lagged < 0 || generation < 0)
        {
            return false;
        }

        values = new FrameHeaderValues(frameKind, epoch, receivedAt, sequence, lagged, generation);
        return true;
    }

    /// <summary>Parses the NATS/1.0 header block of a stored message (the stream's message-get API returns it base64-encoded).</summary>
    public static NatsHeaders? ParseStored(string? base64Block)
    {
        if (string.IsNullOrEmpty(base64Block))
        {
            return null;
        }

        byte[] raw;
        try
        {
            raw = Convert.FromBase64String(base64Block);
        }
        catch (FormatException)
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(raw);
        var lines = text.Split("\r\n");
        if (lines.Length == 0 || !lines[0].StartsWith("NATS/1.0", StringComparison.Ordinal))
        {
            return null;
        }

        var headers = new NatsHeaders();
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        return headers;
    }

    private static bool TryLong(NatsHeaders headers, string name, out long value)
    {
        value = 0;
        return headers.TryGetLastValue(name, out var text)
            && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }
}

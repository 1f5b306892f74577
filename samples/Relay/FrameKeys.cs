using System.Text.Json;
using Transport;

namespace RelaySample;

/// <summary>The simulator's frames carry their topic: it becomes the frame's subject key (transport.sim.frames.BTC-USD).</summary>
internal static class FrameKeys
{
    /// <summary>The top-level <c>"topic"</c> of a JSON text frame, or null.</summary>
    public static string? Topic(Frame frame)
    {
        if (frame.Kind != FrameKind.Text)
        {
            return null;
        }

        try
        {
            return Scan(frame.Payload.Span);
        }
        catch (JsonException)
        {
            return null; // not JSON: no key
        }
    }

    private static string? Scan(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        int depth = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    depth++;
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    depth--;
                    break;
                case JsonTokenType.PropertyName when depth == 1 && reader.ValueTextEquals("topic"u8):
                    reader.Read();
                    return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                case JsonTokenType.PropertyName when depth == 1 && reader.ValueTextEquals("levels"u8):
                    // A snapshot: its topic came first; do not walk megabytes of levels.
                    return null;
            }
        }

        return null;
    }
}

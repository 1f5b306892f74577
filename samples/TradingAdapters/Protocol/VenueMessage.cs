using System.Text.Json;
using Transport;

namespace TradingAdapters.Protocol;

/// <summary>
/// The fields of one simulator message the adapters act on (PROTOCOL.md, server to client).
/// Everything else (levels of a snapshot, timestamps) is skipped without being materialised.
/// </summary>
/// <param name="Type">"tick", "snapshot", "subscribed", "pong", "heartbeat", "error", ...</param>
/// <param name="Topic">The topic of a tick or snapshot.</param>
/// <param name="Seq">The per-subscription sequence number of a tick or snapshot.</param>
/// <param name="Price">The price of a tick.</param>
/// <param name="Id">The echoed request id of a reply.</param>
/// <param name="Topics">The topics of a subscribed/unsubscribed reply.</param>
public sealed record VenueMessage(string Type, string? Topic, long? Seq, decimal? Price, long? Id, IReadOnlyList<string> Topics)
{
    /// <summary>Parses a text frame; null for binary frames and anything that is not a JSON object with a type.</summary>
    public static VenueMessage? Parse(Frame frame)
    {
        if (frame.Kind != FrameKind.Text) return null;
        try
        {
            return Parse(frame.Payload.Span);
        }
        catch (JsonException)
        {
            // A venue that sends garbage must not kill the pump; the caller counts it as unparsed.
            return null;
        }
    }

    private static VenueMessage? Parse(ReadOnlySpan<byte> utf8)
    {
        // A forward-only reader: a 2 MiB snapshot is skipped level by level instead of
        // being turned into a DOM just to read four fields.
        var reader = new Utf8JsonReader(utf8);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
        string? type = null, topic = null;
        long? seq = null, id = null;
        decimal? price = null;
        var topics = new List<string>();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "type" when reader.TokenType == JsonTokenType.String: type = reader.GetString(); break;
                case "topic" when reader.TokenType == JsonTokenType.String: topic = reader.GetString(); break;
                case "seq" when reader.TokenType == JsonTokenType.Number: seq = reader.GetInt64(); break;
                case "id" when reader.TokenType == JsonTokenType.Number: id = reader.GetInt64(); break;
                case "price" when reader.TokenType == JsonTokenType.Number: price = reader.GetDecimal(); break;
                case "topics" when reader.TokenType == JsonTokenType.StartArray:
                    while (reader.Read() && reader.TokenType == JsonTokenType.String) topics.Add(reader.GetString()!);
                    break;
                default: reader.Skip(); break;
            }
        }
        return type is null ? null : new VenueMessage(type, topic, seq, price, id, topics);
    }
}

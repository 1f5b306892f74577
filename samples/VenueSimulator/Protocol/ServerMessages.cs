using System.Buffers;
using System.Text.Json;

namespace VenueSimulator.Protocol;

/// <summary>
/// Serializes every server-to-client message of PROTOCOL.md to UTF-8 JSON. One place, so the
/// document and the bytes on the wire cannot drift apart.
/// </summary>
internal static class ServerMessages
{
    public static ReadOnlyMemory<byte> Subscribed(IReadOnlyList<string> topics, long? id) =>
        Write(w =>
        {
            w.WriteString("type", "subscribed");
            WriteTopics(w, topics);
            WriteId(w, id);
        });

    public static ReadOnlyMemory<byte> Unsubscribed(IReadOnlyList<string> topics, long? id) =>
        Write(w =>
        {
            w.WriteString("type", "unsubscribed");
            WriteTopics(w, topics);
            WriteId(w, id);
        });

    public static ReadOnlyMemory<byte> Tick(string topic, long seq, double price, long unixMs) =>
        Write(w =>
        {
            w.WriteString("type", "tick");
            w.WriteString("topic", topic);
            w.WriteNumber("seq", seq);
            w.WriteNumber("price", price);
            w.WriteNumber("ts", unixMs);
        });

    public static ReadOnlyMemory<byte> Pong(long? id, long unixMs) =>
        Write(w =>
        {
            w.WriteString("type", "pong");
            WriteId(w, id);
            w.WriteNumber("ts", unixMs);
        });

    public static ReadOnlyMemory<byte> LoginOk(string session, long? id) =>
        Write(w =>
        {
            w.WriteString("type", "login");
            w.WriteString("login", "ok");
            w.WriteString("session", session);
            WriteId(w, id);
        });

    public static ReadOnlyMemory<byte> OrderAccepted(long? id) =>
        Write(w =>
        {
            w.WriteString("type", "order");
            w.WriteString("status", "accepted");
            WriteId(w, id);
        });

    public static ReadOnlyMemory<byte> Heartbeat(long unixMs) =>
        Write(w =>
        {
            w.WriteString("type", "heartbeat");
            w.WriteNumber("ts", unixMs);
        });

    public static ReadOnlyMemory<byte> Error(string code, string message, long? id) =>
        Write(w =>
        {
            w.WriteString("type", "error");
            w.WriteString("code", code);
            w.WriteString("msg", message);
            WriteId(w, id);
        });

    /// <summary>
    /// A level2-style book: <c>levels</c> is an array of <c>[side, price, size]</c>, bids below
    /// and asks above <paramref name="mid"/>, appended until the message reaches
    /// <paramref name="minBytes"/>. The size is a floor, overshooting by less than one level.
    /// </summary>
    public static ReadOnlyMemory<byte> Snapshot(string topic, long seq, double mid, int minBytes, Random random, long unixMs)
    {
        var buffer = new ArrayBufferWriter<byte>(Math.Max(256, minBytes + 256));
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", "snapshot");
            w.WriteString("topic", topic);
            w.WriteNumber("seq", seq);
            w.WriteNumber("ts", unixMs);
            w.WriteStartArray("levels");
            // "]}" still to come: count them so the final size is at least minBytes.
            const int closingBytes = 2;
            for (var i = 0; w.BytesCommitted + w.BytesPending + closingBytes < minBytes; i++)
            {
                var depth = i / 2 + 1;
                var isBid = i % 2 == 0;
                w.WriteStartArray();
                w.WriteStringValue(isBid ? "buy" : "sell");
                w.WriteNumberValue(Math.Round(isBid ? mid - depth * 0.01 : mid + depth * 0.01, 2));
                w.WriteNumberValue(Math.Round(random.NextDouble() * 10, 4));
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenMemory;
    }

    private static ReadOnlyMemory<byte> Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenMemory;
    }

    private static void WriteTopics(Utf8JsonWriter w, IReadOnlyList<string> topics)
    {
        w.WriteStartArray("topics");
        foreach (var t in topics) w.WriteStringValue(t);
        w.WriteEndArray();
    }

    private static void WriteId(Utf8JsonWriter w, long? id)
    {
        if (id is { } value) w.WriteNumber("id", value);
    }
}

using System.Text.Json;

namespace VenueSimulator.Protocol;

/// <summary>
/// Parses one inbound text message into a <see cref="ClientCommand"/>. Pure: no I/O, so the
/// grammar is unit-tested without a socket. Errors come back as a short, client-safe text.
/// </summary>
internal static class ClientCommandParser
{
    public static bool TryParse(ReadOnlySpan<byte> utf8, out ClientCommand? command, out string? error)
    {
        command = null;
        error = null;
        try
        {
            var reader = new Utf8JsonReader(utf8);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return Fail("message must be a JSON object", out error);
            if (!root.TryGetProperty("op", out var opElement) || opElement.ValueKind != JsonValueKind.String)
                return Fail("missing \"op\"", out error);

            long? id = null;
            if (root.TryGetProperty("id", out var idElement))
            {
                if (idElement.ValueKind != JsonValueKind.Number || !idElement.TryGetInt64(out var idValue)) return Fail("\"id\" must be an integer", out error);
                id = idValue;
            }

            switch (opElement.GetString())
            {
                case "subscribe":
                case "unsubscribe":
                    {
                        var op = opElement.ValueEquals("subscribe") ? ClientOp.Subscribe : ClientOp.Unsubscribe;
                        if (!root.TryGetProperty("topics", out var topicsElement) || topicsElement.ValueKind != JsonValueKind.Array)
                            return Fail("\"topics\" must be an array", out error);
                        var topics = new List<string>();
                        foreach (var t in topicsElement.EnumerateArray())
                        {
                            if (t.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(t.GetString()))
                                return Fail("topics must be non-empty strings", out error);
                            topics.Add(t.GetString()!);
                        }
                        if (topics.Count == 0) return Fail("\"topics\" is empty", out error);
                        command = new ClientCommand(op, topics, id);
                        return true;
                    }
                case "ping":
                    command = new ClientCommand(ClientOp.Ping, Array.Empty<string>(), id);
                    return true;
                case "login":
                    command = new ClientCommand(ClientOp.Login, Array.Empty<string>(), id);
                    return true;
                case "order":
                    command = new ClientCommand(ClientOp.Order, Array.Empty<string>(), id);
                    return true;
                case "snapshot":
                    if (!root.TryGetProperty("topic", out var topicElement) || topicElement.ValueKind != JsonValueKind.String
                        || string.IsNullOrEmpty(topicElement.GetString()))
                        return Fail("\"topic\" must be a non-empty string", out error);
                    command = new ClientCommand(ClientOp.Snapshot, new[] { topicElement.GetString()! }, id);
                    return true;
                default:
                    return Fail("unknown op", out error);
            }
        }
        catch (JsonException)
        {
            return Fail("invalid JSON", out error);
        }
    }

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }
}

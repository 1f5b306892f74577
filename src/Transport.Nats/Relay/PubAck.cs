using System.Text.Json;

namespace Transport.Nats.Relay;

/// <summary>JetStream's answer to one publish.</summary>
/// <param name="Success">Stored (or a duplicate of a stored message).</param>
/// <param name="StreamSequence">The stream sequence it was stored at.</param>
/// <param name="Duplicate">JetStream already had this Nats-Msg-Id: a retry of a stored frame.</param>
/// <param name="Error">Why it was refused (JetStream's description, or the status); null on success.</param>
internal readonly record struct PubAck(bool Success, ulong StreamSequence, bool Duplicate, string? Error)
{
    /// <summary>Parses a PubAck reply (<c>{"stream":"S","seq":5,"duplicate":true}</c> or <c>{"error":{"code":503,"description":"..."}}</c>).</summary>
    /// <param name="json">The reply's payload.</param>
    /// <param name="statusCode">The reply's status code from its headers (503: no JetStream stream listens on the subject); 0 when none.</param>
    public static PubAck Parse(ReadOnlySpan<byte> json, int statusCode = 0)
    {
        if (statusCode >= 300 || json.IsEmpty)
        {
            return new PubAck(false, 0, false, statusCode == 503 ? "no responders (is the stream there?)" : $"status {statusCode}");
        }

        try
        {
            var reader = new Utf8JsonReader(json);
            ulong seq = 0;
            bool duplicate = false;
            bool sawStream = false;
            string? error = null;
            int depth = 0;
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        depth++;
                        break;
                    case JsonTokenType.EndObject:
                        depth--;
                        break;
                    case JsonTokenType.PropertyName when depth == 1:
                        if (reader.ValueTextEquals("seq"u8))
                        {
                            reader.Read();
                            seq = reader.TokenType == JsonTokenType.Number ? reader.GetUInt64() : 0;
                        }
                        else if (reader.ValueTextEquals("duplicate"u8))
                        {
                            reader.Read();
                            duplicate = reader.TokenType == JsonTokenType.True;
                        }
                        else if (reader.ValueTextEquals("stream"u8))
                        {
                            reader.Read();
                            sawStream = true;
                        }
                        else if (reader.ValueTextEquals("error"u8))
                        {
                            error = "refused";
                        }

                        break;
                    case JsonTokenType.PropertyName when depth == 2 && error is not null && reader.ValueTextEquals("description"u8):
                        reader.Read();
                        error = reader.GetString() ?? "refused";
                        break;
                }
            }

            if (error is not null)
            {
                return new PubAck(false, 0, false, error);
            }

            return sawStream && seq > 0 ? new PubAck(true, seq, duplicate, null) : new PubAck(false, 0, false, "unreadable acknowledgement");
        }
        catch (JsonException)
        {
            return new PubAck(false, 0, false, "unreadable acknowledgement");
        }
    }
}

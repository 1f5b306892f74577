using System.Text.Json;
using Transport;

namespace TradingAdapters.Protocol;

/// <summary>
/// The dedupe key of the simulator's messages, for redundant legs (and rotation): a tick is the venue's
/// message <c>seq</c> of stream <c>topic</c>. Meaningful only when the venue numbers its ticks venue-wide (the
/// simulator's <c>VenueSequences</c>, Binance's update ids); a per-connection sequence is no key.
/// </summary>
/// <remarks>
/// Only ticks have a key. A snapshot carries the seq of the last tick before it, so keying it by (topic, seq)
/// would take it for that tick; snapshots, subscribe replies, pongs and errors are unkeyed (the merged source
/// takes them from the primary leg). Reads the payload's bytes with <see cref="Utf8JsonReader"/> and hashes the
/// topic's UTF-8 bytes: no allocation per frame.
/// </remarks>
public static class VenueKeys
{
    // Topics longer than this (never seen) are unescaped through the heap.
    private const int StackTopicBytes = 128;

    /// <summary>(topic, seq) of a tick; false for every other message.</summary>
    public static FrameKeySelector TopicAndSeq { get; } = Select;

    private static bool Select(in Frame frame, out DedupeKey key)
    {
        key = default;
        if (frame.Kind != FrameKind.Text)
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(frame.Payload.Span);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            bool tick = false, hasSeq = false, hasTopic = false;
            long seq = 0;
            ulong stream = 0;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    tick = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("tick"u8);
                    if (!tick)
                    {
                        return false;
                    }
                }
                else if (reader.ValueTextEquals("topic"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }

                    stream = StreamOf(ref reader);
                    hasTopic = true;
                }
                else if (reader.ValueTextEquals("seq"u8))
                {
                    reader.Read();
                    hasSeq = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out seq);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }

                if (tick && hasSeq && hasTopic)
                {
                    key = new DedupeKey(stream, seq);
                    return true;
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: no key (the merged source treats it as unkeyed).
        }

        return false;
    }

    // The topic's unescaped UTF-8 bytes, hashed: the same value as DedupeKey.StreamOf(topic).
    private static ulong StreamOf(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            return DedupeKey.StreamOf(reader.ValueSpan);
        }

        int length = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        Span<byte> buffer = length <= StackTopicBytes ? stackalloc byte[StackTopicBytes] : new byte[length];
        int written = reader.CopyString(buffer);
        return DedupeKey.StreamOf(buffer[..written]);
    }
}

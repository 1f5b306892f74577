using System.Text.Json;
using System.Text.Json.Serialization;

namespace Transport.Nats.Feeds;

// The JSON values the relay writes to the feed's KV keys (docs/adr/0017-nats-relay.md lists the fields).
// Nothing here may carry a secret: errors are the transport's own messages (composed without URIs,
// headers or payloads), the endpoint is redacted before it gets here.

/// <summary>The relay's lifecycle snapshot at <c>{feed}.lifecycle</c>: last value wins, like the BehaviorSubject it mirrors.</summary>
internal sealed record LifecycleRecord(
    ConnectionPhase Phase,
    long Epoch,
    long Version,
    DateTimeOffset? DownSince,
    long Attempts,
    long TotalLagged,
    bool Exhausted,
    DateTimeOffset? UpSince,
    double? LastOutageMs,
    ErrorRecord? LastError,
    long Generation,
    string Relay,
    string? Endpoint,
    DateTimeOffset PublishedAt)
{
    /// <summary>The relay sequence of the newest frame JetStream acknowledged (a takeover continues after it).</summary>
    public long LastSequence { get; init; }

    public bool IsUp => Phase is ConnectionPhase.Connected or ConnectionPhase.Stale or ConnectionPhase.Resumed;

    /// <summary>Equal apart from the publication time and version: nothing new to write.</summary>
    public bool SameStateAs(LifecycleRecord? other) =>
        other is not null && this with { PublishedAt = default, Version = 0 } == other with { PublishedAt = default, Version = 0 };
}

/// <summary>A <see cref="TransportException"/> as published: kind, the transport's message, HTTP status, close code.</summary>
internal sealed record ErrorRecord(TransportErrorKind Kind, string Message, int? HttpStatus, int? CloseCode)
{
    public static ErrorRecord? From(TransportException? error) =>
        error is null ? null : new ErrorRecord(error.Kind, error.Message, error.HttpStatus, error.CloseCode);

    public TransportException ToException() => new(Kind, Message, HttpStatus, CloseCode);
}

/// <summary>The active relay's lease at <c>{feed}.lease</c>, renewed by revision compare-and-set.</summary>
internal sealed record LeaseRecord(
    string Holder,
    long Generation,
    long TtlMs,
    long RenewMs,
    DateTimeOffset RenewedAt,
    bool Released,
    string? Endpoint);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LifecycleRecord))]
[JsonSerializable(typeof(LeaseRecord))]
internal sealed partial class FeedJsonContext : JsonSerializerContext
{
    public static byte[] Serialize(LifecycleRecord record) => JsonSerializer.SerializeToUtf8Bytes(record, Default.LifecycleRecord);

    public static byte[] Serialize(LeaseRecord record) => JsonSerializer.SerializeToUtf8Bytes(record, Default.LeaseRecord);

    /// <summary>Null for an absent or unreadable value (a foreign writer): the caller treats it as unknown.</summary>
    public static LifecycleRecord? ReadLifecycle(byte[]? value) => Read(value, Default.LifecycleRecord);

    /// <summary>Null for an absent or unreadable value.</summary>
    public static LeaseRecord? ReadLease(byte[]? value) => Read(value, Default.LeaseRecord);

    private static T? Read<T>(byte[]? value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        if (value is null || value.Length == 0)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(value, type);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Transport;

/// <summary>Sending strings and JSON without building frames by hand.</summary>
/// <remarks>
/// JSON goes through System.Text.Json with a <see cref="JsonTypeInfo{T}"/> (from a
/// <c>JsonSerializerContext</c>), so it is trimming- and AOT-safe: no reflection-based serialization.
/// Each call encodes once into an exact-size array that the frame owns until the send completes.
/// </remarks>
public static class FrameSinkExtensions
{
    /// <summary>Sends a text frame.</summary>
    /// <param name="sink">The sink.</param>
    /// <param name="text">The message text (encoded as UTF-8).</param>
    /// <param name="options">Lane and epoch pinning.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Completes when written (see <see cref="IFrameSink.SendAsync(Frame, SendOptions, CancellationToken)"/>).</returns>
    public static ValueTask SendTextAsync(this IFrameSink sink, string text, SendOptions options = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return sink.SendAsync(Frame.Text(text), options, cancellationToken);
    }

    /// <summary>Queues a text frame without waiting.</summary>
    /// <param name="sink">The sink.</param>
    /// <param name="text">The message text.</param>
    /// <param name="options">Lane and epoch pinning.</param>
    /// <returns>Whether it was queued, and if not, why.</returns>
    public static SendStatus TrySendText(this IFrameSink sink, string text, SendOptions options = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return sink.TrySend(Frame.Text(text), options);
    }

    /// <summary>Serializes <paramref name="value"/> to JSON and sends it as a text frame.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="sink">The sink.</param>
    /// <param name="value">The value.</param>
    /// <param name="typeInfo">Its serialization metadata (e.g. <c>MyJsonContext.Default.Subscribe</c>).</param>
    /// <param name="options">Lane and epoch pinning.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Completes when written.</returns>
    public static ValueTask SendJsonAsync<T>(this IFrameSink sink, T value, JsonTypeInfo<T> typeInfo, SendOptions options = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return sink.SendAsync(FrameJson.ToFrame(value, typeInfo), options, cancellationToken);
    }

    /// <summary>Serializes <paramref name="value"/> to JSON and queues it without waiting.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="sink">The sink.</param>
    /// <param name="value">The value.</param>
    /// <param name="typeInfo">Its serialization metadata.</param>
    /// <param name="options">Lane and epoch pinning.</param>
    /// <returns>Whether it was queued, and if not, why.</returns>
    public static SendStatus TrySendJson<T>(this IFrameSink sink, T value, JsonTypeInfo<T> typeInfo, SendOptions options = default)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return sink.TrySend(FrameJson.ToFrame(value, typeInfo), options);
    }
}

/// <summary>JSON to and from frames with System.Text.Json source-generated metadata (trimming-safe).</summary>
public static class FrameJson
{
    /// <summary>A text frame holding <paramref name="value"/> as JSON (UTF-8, no BOM).</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="value">The value.</param>
    /// <param name="typeInfo">Its serialization metadata.</param>
    /// <returns>The frame.</returns>
    public static Frame ToFrame<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return Frame.Text(JsonSerializer.SerializeToUtf8Bytes(value, typeInfo));
    }

    /// <summary>Deserializes a data frame's payload (text or binary) as JSON.</summary>
    /// <typeparam name="T">The target type.</typeparam>
    /// <param name="frame">A text or binary frame.</param>
    /// <param name="typeInfo">The target's serialization metadata.</param>
    /// <returns>The value (null when the payload is the JSON literal <c>null</c>).</returns>
    /// <exception cref="InvalidOperationException">The frame is not a data frame.</exception>
    /// <exception cref="JsonException">The payload is not valid JSON for <typeparamref name="T"/>.</exception>
    public static T? ReadJson<T>(this Frame frame, JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        if (!frame.IsData)
        {
            throw new InvalidOperationException($"ReadJson needs a Text or Binary frame; this one is {frame.Kind}.");
        }

        return JsonSerializer.Deserialize(frame.Payload.Span, typeInfo);
    }

    /// <summary>Parses a data frame's payload as a JSON document (dispose it when done).</summary>
    /// <param name="frame">A text or binary frame.</param>
    /// <returns>The document; it references the frame's payload, which the frame owns (no copy).</returns>
    /// <exception cref="InvalidOperationException">The frame is not a data frame.</exception>
    /// <exception cref="JsonException">The payload is not valid JSON.</exception>
    public static JsonDocument ReadJsonDocument(this Frame frame)
    {
        if (!frame.IsData)
        {
            throw new InvalidOperationException($"ReadJsonDocument needs a Text or Binary frame; this one is {frame.Kind}.");
        }

        return JsonDocument.Parse(frame.Payload);
    }

    /// <summary>The payload of a text frame as a string (strict UTF-8), or null for any other kind.</summary>
    /// <param name="frame">A frame.</param>
    /// <returns>The text, or null when the frame is not a text frame.</returns>
    public static string? TryGetText(this Frame frame) => frame.Kind == FrameKind.Text ? frame.GetText() : null;
}

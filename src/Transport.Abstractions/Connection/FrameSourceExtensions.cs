using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Transport;

/// <summary>Reading a source's frames as typed JSON values.</summary>
/// <remarks>
/// Deserialization goes through System.Text.Json with a <see cref="JsonTypeInfo{T}"/> from a
/// <c>JsonSerializerContext</c>: trimming- and AOT-safe, no reflection. The enumeration reads the
/// frames, so it owns them: each frame is released (lease mode) once its value is made, so a value
/// never refers to a payload (System.Text.Json copies what it keeps).
/// <para>
/// A frame that is not valid JSON for the type (or is the JSON literal <c>null</c>) never vanishes:
/// without a handler it ends the enumeration with a <see cref="FrameJsonException"/> that says which
/// frame (kind, epoch, receive time, length) and where the JSON broke, and the frames after it stay in
/// the source (enumerate again to go on); with a handler it is handed to it, then skipped.
/// </para>
/// </remarks>
public static class FrameSourceExtensions
{
    /// <summary>
    /// The source's data frames (text or binary, UTF-8 JSON) as values of <typeparamref name="T"/>.
    /// A frame that does not parse ends the enumeration with a <see cref="FrameJsonException"/>.
    /// </summary>
    /// <typeparam name="T">The message type.</typeparam>
    /// <param name="source">The source (single consumer: do not read it elsewhere meanwhile).</param>
    /// <param name="typeInfo">The type's metadata (for example <c>VenueJson.Default.Tick</c>).</param>
    /// <param name="cancellationToken">Ends the enumeration with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The values, in frame order.</returns>
    /// <exception cref="FrameJsonException">A frame is not valid JSON for <typeparamref name="T"/>, or is JSON <c>null</c>.</exception>
    /// <exception cref="TransportException">The connection became unrecoverable (as the source itself throws).</exception>
    public static IAsyncEnumerable<T> ReadJsonAsync<T>(this IFrameSource source, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(typeInfo);
        return Read(source, typeInfo, null, cancellationToken);
    }

    /// <summary>
    /// The source's data frames as values of <typeparamref name="T"/>; a frame that does not parse is
    /// handed to <paramref name="onInvalid"/> (count it, log it, keep a copy) and skipped.
    /// </summary>
    /// <typeparam name="T">The message type.</typeparam>
    /// <param name="source">The source (single consumer).</param>
    /// <param name="typeInfo">The type's metadata.</param>
    /// <param name="onInvalid">
    /// Called with the frame (readable during the call only: it is released after; copy the payload to
    /// keep it) and the <see cref="FrameJsonException"/> describing it. An exception it throws ends the
    /// enumeration with that exception.
    /// </param>
    /// <param name="cancellationToken">Ends the enumeration with <see cref="OperationCanceledException"/>.</param>
    /// <returns>The values of the frames that parsed, in frame order.</returns>
    public static IAsyncEnumerable<T> ReadJsonAsync<T>(this IFrameSource source, JsonTypeInfo<T> typeInfo, Action<Frame, FrameJsonException> onInvalid, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(typeInfo);
        ArgumentNullException.ThrowIfNull(onInvalid);
        return Read(source, typeInfo, onInvalid, cancellationToken);
    }

    private static async IAsyncEnumerable<T> Read<T>(IFrameSource source, JsonTypeInfo<T> typeInfo, Action<Frame, FrameJsonException>? onInvalid, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var frame in source.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            T? value;
            FrameJsonException? invalid = null;
            try
            {
                value = JsonSerializer.Deserialize(frame.Payload.Span, typeInfo);
                if (value is null)
                {
                    invalid = FrameJsonException.For(frame, typeInfo.Type, new JsonException($"The payload is the JSON literal null, not a {typeInfo.Type.Name}."));
                }
            }
            catch (JsonException ex)
            {
                value = default;
                invalid = FrameJsonException.For(frame, typeInfo.Type, ex);
            }
            catch
            {
                frame.Release(); // not a payload problem (a type the metadata cannot handle): the caller's bug, rethrown
                throw;
            }

            if (invalid is null)
            {
                frame.Release();
                yield return value!;
                continue;
            }

            if (onInvalid is null)
            {
                frame.Release();
                throw invalid;
            }

            try
            {
                onInvalid(frame, invalid);
            }
            finally
            {
                frame.Release();
            }
        }
    }
}

/// <summary>
/// A data frame that is not valid JSON for the type it was read as (<see cref="FrameSourceExtensions.ReadJsonAsync{T}(IFrameSource, JsonTypeInfo{T}, CancellationToken)"/>):
/// which frame, and where the JSON broke. The payload itself is not carried (it may be large, and it is
/// the venue's data); <see cref="Exception.InnerException"/> is System.Text.Json's error.
/// </summary>
public sealed class FrameJsonException : JsonException
{
    private FrameJsonException(string message, JsonException inner)
        : base(message, inner.Path, inner.LineNumber, inner.BytePositionInLine, inner)
    {
    }

    /// <summary>Text or Binary.</summary>
    public FrameKind Kind { get; private init; }

    /// <summary>The epoch (socket) the frame arrived on.</summary>
    public long Epoch { get; private init; }

    /// <summary>When it arrived (<see cref="Frame.ReceivedAt"/>: a <see cref="TimeProvider"/> timestamp).</summary>
    public long ReceivedAt { get; private init; }

    /// <summary>Its payload length in bytes.</summary>
    public int Length { get; private init; }

    /// <summary>The type it was read as.</summary>
    public Type TargetType { get; private init; } = typeof(object);

    internal static FrameJsonException For(Frame frame, Type target, JsonException error) =>
        new($"A {frame.Kind} frame of epoch {frame.Epoch} ({frame.Length} B) is not valid JSON for {target.Name}: {error.Message}", error)
        {
            Kind = frame.Kind,
            Epoch = frame.Epoch,
            ReceivedAt = frame.ReceivedAt,
            Length = frame.Length,
            TargetType = target,
        };
}

using System.Buffers;
using System.IO.Hashing;
using System.Text;

namespace Transport;

/// <summary>
/// What identifies one venue message across sockets, so that the same message received on two
/// sockets (two redundant legs, or the old and new socket of a rotation) is delivered once.
/// </summary>
/// <remarks>
/// <para>
/// A key must name the <b>venue's</b> message, never the socket's: the same message must get the same
/// key on every socket, and two different messages must never share one while both can be in flight.
/// The usual shape is a stream (topic, channel, symbol + channel) and the venue's own sequence number
/// within it: Binance's trade id or depth update id <c>u</c>, Coinbase's <c>sequence</c>, a simulator's
/// <c>seq</c>. A sequence the venue numbers per connection (restarting at 1 on every socket) is not a
/// key: two sockets would give the same number to different messages.
/// </para>
/// <para>
/// <see cref="Stream"/> is a stable 64-bit hash of the stream's name (<see cref="StreamOf(string)"/>):
/// the same name gives the same value in every process and on every platform, so keys can be compared
/// across processes (a relay) and logged. Two names colliding is possible (64 bits: at 100,000 streams
/// the chance of any collision is about 3 x 10^-10); when they do, messages of both streams with the
/// same sequence inside one dedupe window would be taken for one.
/// </para>
/// </remarks>
/// <param name="Stream">The stream the message belongs to, usually <see cref="StreamOf(string)"/> of its topic.</param>
/// <param name="Sequence">The venue's sequence number of the message within <paramref name="Stream"/>.</param>
public readonly record struct DedupeKey(ulong Stream, long Sequence)
{
    // Names up to this many UTF-8 bytes are hashed from the stack (topics are short); longer ones rent.
    private const int StackBytes = 256;

    /// <summary>
    /// A stable 64-bit hash of a stream name: XxHash64 (seed 0) of its UTF-8 bytes. The same name
    /// gives the same value in every process; equal to <see cref="StreamOf(ReadOnlySpan{byte})"/>
    /// of the name's UTF-8 encoding, so a selector can hash the bytes of a payload without decoding.
    /// </summary>
    /// <param name="name">The stream's name (a topic).</param>
    /// <returns>The stream part of a key.</returns>
    public static ulong StreamOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return StreamOf(name.AsSpan());
    }

    /// <summary>As <see cref="StreamOf(string)"/>, over characters (no allocation for names up to 256 UTF-8 bytes).</summary>
    /// <param name="name">The stream's name.</param>
    /// <returns>The stream part of a key.</returns>
    public static ulong StreamOf(ReadOnlySpan<char> name)
    {
        int max = Encoding.UTF8.GetMaxByteCount(name.Length);
        if (max <= StackBytes)
        {
            Span<byte> utf8 = stackalloc byte[StackBytes];
            int written = Encoding.UTF8.GetBytes(name, utf8);
            return StreamOf(utf8[..written]);
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            int written = Encoding.UTF8.GetBytes(name, rented);
            return StreamOf(rented.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>As <see cref="StreamOf(string)"/>, over the name's UTF-8 bytes (for example a slice of a received payload).</summary>
    /// <param name="utf8Name">The stream's name, UTF-8 encoded.</param>
    /// <returns>The stream part of a key.</returns>
    public static ulong StreamOf(ReadOnlySpan<byte> utf8Name) => XxHash64.HashToUInt64(utf8Name);

    /// <summary>A key for message <paramref name="sequence"/> of stream <paramref name="name"/>.</summary>
    /// <param name="name">The stream's name (a topic).</param>
    /// <param name="sequence">The venue's sequence number within the stream.</param>
    /// <returns>The key.</returns>
    public static DedupeKey For(string name, long sequence) => new(StreamOf(name), sequence);

    /// <summary>Both parts, the stream in hex (no payload, nothing secret).</summary>
    public override string ToString() => $"{Stream:x16}#{Sequence}";
}

/// <summary>
/// Reads the <see cref="DedupeKey"/> of a received frame: the adapter's knowledge of its venue's
/// grammar (which stream, which sequence number), handed to the transport so it can deliver a
/// message received on several sockets once.
/// </summary>
/// <remarks>
/// Called on the receive path of every data frame the dedupe sees (before the consumer): keep it fast
/// and free of allocation (parse the payload's bytes, hash the stream name with
/// <see cref="DedupeKey.StreamOf(ReadOnlySpan{byte})"/>), and never block. It must not keep the frame or
/// its payload (in lease mode the payload is recycled once the frame is released). An exception is
/// treated as "no key" for that frame, logged by type once per connection.
/// </remarks>
/// <param name="frame">A received data frame (Text or Binary).</param>
/// <param name="key">The key, when the frame has one.</param>
/// <returns>True when the frame carries a key; false for frames that have none (replies, heartbeats, errors).</returns>
public delegate bool FrameKeySelector(in Frame frame, out DedupeKey key);

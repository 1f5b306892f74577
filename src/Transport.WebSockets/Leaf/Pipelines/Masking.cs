using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Transport.WebSockets.Pipelines;

/// <summary>
/// RFC 6455 section 5.3 masking: XOR with a 4-byte key, vectorised (Vector&lt;byte&gt;, then 8 bytes at a
/// time, then bytes). Pure; unit-tested against the byte-at-a-time definition.
/// </summary>
internal static class Masking
{
    /// <summary>Writes <paramref name="source"/> XOR the key into <paramref name="destination"/> (which may alias it).</summary>
    /// <param name="source">The clear bytes.</param>
    /// <param name="destination">At least as long as <paramref name="source"/>.</param>
    /// <param name="key">The 4 key bytes as they appear on the wire, read little-endian into an int.</param>
    /// <param name="keyOffset">The payload offset of <paramref name="source"/>[0] (so a payload can be masked in chunks).</param>
    public static void Apply(ReadOnlySpan<byte> source, Span<byte> destination, int key, long keyOffset)
    {
        // Rotate the key so that byte 0 of this chunk uses key byte (keyOffset % 4).
        var shift = (int)(keyOffset & 3) * 8;
        var rotated = (int)BitOperations.RotateRight((uint)key, shift);
        var i = 0;
        var length = source.Length;

        if (BitConverter.IsLittleEndian && Vector.IsHardwareAccelerated && length >= Vector<byte>.Count)
        {
            var keyVector = Vector.AsVectorByte(new Vector<int>(rotated));
            var last = length - Vector<byte>.Count;
            for (; i <= last; i += Vector<byte>.Count)
            {
                var data = new Vector<byte>(source[i..]);
                (data ^ keyVector).CopyTo(destination[i..]);
            }
        }

        var key64 = ((ulong)(uint)rotated << 32) | (uint)rotated;
        for (; BitConverter.IsLittleEndian && i + 8 <= length; i += 8)
        {
            var data = MemoryMarshal.Read<ulong>(source[i..]);
            MemoryMarshal.Write(destination[i..], data ^ key64);
        }

        Span<byte> keyBytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(keyBytes, rotated);
        for (; i < length; i++)
        {
            destination[i] = (byte)(source[i] ^ keyBytes[i & 3]);
        }
    }
}

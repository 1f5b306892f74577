using System.Text.Unicode;

namespace Transport.WebSockets.Pipelines;

/// <summary>
/// Incremental UTF-8 validation of a message that arrives in pieces (fragments, socket reads,
/// inflater output): each piece is validated as it arrives; a character split between pieces is
/// carried (at most 3 bytes) until its continuation arrives. Invalid bytes are reported as soon as
/// they can no longer begin a valid character (fail fast, RFC 6455 8.1).
/// </summary>
internal struct Utf8Validator
{
    private uint _pending; // the bytes of an incomplete character, first byte lowest
    private int _pendingCount;

    /// <summary>Forgets the previous message.</summary>
    public void Reset() => _pendingCount = 0;

    /// <summary>True when the bytes so far end on a character boundary (the message may end here).</summary>
    public readonly bool AtBoundary => _pendingCount == 0;

    /// <summary>Validates the next piece of the message.</summary>
    /// <param name="piece">The bytes that follow those already validated.</param>
    /// <returns>False when the bytes so far are not a prefix of valid UTF-8.</returns>
    public bool Append(ReadOnlySpan<byte> piece)
    {
        if (_pendingCount > 0)
        {
            // Complete the carried character first, from at most 3 bytes of the piece.
            Span<byte> character = stackalloc byte[4];
            for (var i = 0; i < _pendingCount; i++)
            {
                character[i] = (byte)(_pending >> (8 * i));
            }

            var needed = SequenceLength(character[0]);
            var taken = Math.Min(needed - _pendingCount, piece.Length);
            piece[..taken].CopyTo(character[_pendingCount..]);
            var have = _pendingCount + taken;
            piece = piece[taken..];
            if (have < needed)
            {
                return Carry(character[..have]);
            }

            if (!Utf8.IsValid(character[..needed]))
            {
                return false;
            }

            _pendingCount = 0;
        }

        var boundary = WholeCharacterPrefix(piece);
        if (!Utf8.IsValid(piece[..boundary]))
        {
            return false;
        }

        return boundary == piece.Length || Carry(piece[boundary..]);
    }

    private bool Carry(ReadOnlySpan<byte> tail)
    {
        if (!IsPossiblePrefix(tail))
        {
            return false;
        }

        _pending = 0;
        for (var i = 0; i < tail.Length; i++)
        {
            _pending |= (uint)tail[i] << (8 * i);
        }

        _pendingCount = tail.Length;
        return true;
    }

    private static int SequenceLength(byte lead) => lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;

    // The length of the longest prefix that does not end inside a multi-byte character.
    private static int WholeCharacterPrefix(ReadOnlySpan<byte> bytes)
    {
        // Look back at most 3 bytes for the lead byte of the last character.
        for (var back = 1; back <= Math.Min(3, bytes.Length); back++)
        {
            var b = bytes[^back];
            if ((b & 0xC0) == 0x80)
            {
                continue; // continuation byte
            }

            var needed = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return needed > back ? bytes.Length - back : bytes.Length;
        }

        return bytes.Length; // no lead byte in the last 3: whatever it is, validate it all now
    }

    // An incomplete character (1-3 bytes, starting with a lead byte) that a later continuation could complete.
    private static bool IsPossiblePrefix(ReadOnlySpan<byte> tail)
    {
        var lead = tail[0];
        if (lead is < 0xC2 or > 0xF4)
        {
            return false;
        }

        if (tail.Length >= 2)
        {
            var second = tail[1];
            var ok = lead switch
            {
                0xE0 => second is >= 0xA0 and <= 0xBF, // no overlong 3-byte forms
                0xED => second is >= 0x80 and <= 0x9F, // no surrogates
                0xF0 => second is >= 0x90 and <= 0xBF, // no overlong 4-byte forms
                0xF4 => second is >= 0x80 and <= 0x8F, // nothing above U+10FFFF
                _ => (second & 0xC0) == 0x80,
            };
            if (!ok)
            {
                return false;
            }
        }

        return tail.Length < 3 || (tail[2] & 0xC0) == 0x80;
    }
}

using System.Text.Unicode;

namespace Transport.WebSockets.Pipelines;

/// <summary>
/// Incremental UTF-8 validation over a growing buffer: each call validates the bytes added since the
/// last one, up to the last whole character; an incomplete character at the end waits for the next
/// fragment. Invalid bytes are reported as soon as they are complete (fail fast, RFC 6455 8.1).
/// </summary>
internal struct Utf8Validator
{
    private int _validated; // bytes [0, _validated) are known valid and end on a character boundary

    /// <summary>Forgets the previous message.</summary>
    public void Reset() => _validated = 0;

    /// <summary>Validates <paramref name="message"/>[validated..]; the message so far may end mid-character unless <paramref name="final"/>.</summary>
    /// <param name="message">The whole message received so far (the same buffer each call, growing).</param>
    /// <param name="final">True when the message is complete: an incomplete character at the end is then invalid.</param>
    /// <returns>False when the bytes are not (a prefix of) valid UTF-8.</returns>
    public bool Append(ReadOnlySpan<byte> message, bool final)
    {
        var pending = message[_validated..];
        var boundary = final ? pending.Length : WholeCharacterPrefix(pending);
        if (!Utf8.IsValid(pending[..boundary]))
        {
            return false;
        }

        _validated += boundary;
        if (!final && boundary < pending.Length)
        {
            // The tail is an incomplete character: it must at least be a possible prefix.
            return IsPossiblePrefix(pending[boundary..]);
        }

        return true;
    }

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

    // An incomplete tail (1-3 bytes, starting with a lead byte) that a later continuation could complete.
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

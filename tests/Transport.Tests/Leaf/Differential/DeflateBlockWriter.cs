namespace Transport.Tests.Leaf.Differential;

/// <summary>
/// A small DEFLATE (RFC 1951) encoder for tests: stored and fixed-Huffman blocks with greedy LZ77
/// matching inside a window the caller bounds, with BFINAL set on whichever block the caller asks.
/// It produces the block layouts real compressors rarely do (final blocks in the middle of a message,
/// stored blocks, several blocks per message) so both WebSocket clients meet them.
/// </summary>
internal sealed class DeflateBlockWriter
{
    private static readonly int[] LengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
    private static readonly int[] LengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
    private static readonly int[] DistanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
    private static readonly int[] DistanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

    private const int HashBits = 12;

    private readonly List<byte> _output = [];
    private readonly int[] _head = new int[1 << HashBits]; // the last history position of each 3-byte hash, or -1
    private byte[] _history = new byte[1024]; // everything this stream has output (the decoder's window)
    private int _historyLength;
    private int _hashed; // history positions [0, _hashed) are in _head
    private ulong _bits;
    private int _bitCount;

    public DeflateBlockWriter() => Array.Fill(_head, -1);

    /// <summary>The largest back-reference distance to use (the sender's window); 0: no matches.</summary>
    public int MaxDistance { get; set; } = 32 * 1024 - 262;

    /// <summary>Forgets the history (a sender without context takeover, or after a reset).</summary>
    public void ForgetHistory()
    {
        _historyLength = 0;
        _hashed = 0;
        Array.Fill(_head, -1);
    }

    /// <summary>A stored block holding <paramref name="data"/> (at most 65,535 bytes).</summary>
    public void Stored(ReadOnlySpan<byte> data, bool final)
    {
        WriteBits(final ? 1u : 0u, 1);
        WriteBits(0, 2);
        AlignToByte();
        WriteByte((byte)data.Length);
        WriteByte((byte)(data.Length >> 8));
        WriteByte((byte)~data.Length);
        WriteByte((byte)(~data.Length >> 8));
        foreach (var b in data)
        {
            WriteByte(b);
        }

        AddHistory(data);
    }

    /// <summary>A fixed-Huffman block holding <paramref name="data"/>, with back-references into the window.</summary>
    public void Fixed(ReadOnlySpan<byte> data, bool final)
    {
        WriteBits(final ? 1u : 0u, 1);
        WriteBits(1, 2); // BTYPE=01, written LSB first
        var pos = _historyLength;
        AddHistory(data);
        var end = _historyLength;
        while (pos < end)
        {
            var length = 0;
            var distance = 0;
            if (MaxDistance > 0 && pos + 3 <= end)
            {
                HashUpTo(pos);
                var candidate = _head[Hash(pos)];
                if (candidate >= 0 && pos - candidate <= MaxDistance)
                {
                    while (length < 258 && pos + length < end && _history[candidate + length] == _history[pos + length])
                    {
                        length++;
                    }

                    distance = pos - candidate;
                }
            }

            if (length >= 3)
            {
                WriteLength(length);
                WriteDistance(distance);
                pos += length;
                continue;
            }

            WriteLiteral(_history[pos]);
            pos++;
        }

        WriteSymbol(256); // end of block
    }

    /// <summary>Pads to a byte boundary with zero bits (after a final block, RFC 7692 7.2.1).</summary>
    public void AlignToByte()
    {
        if (_bitCount > 0)
        {
            WriteBits(0, 8 - _bitCount);
        }
    }

    /// <summary>Appends raw bytes (a 0x00 octet, a tail): the caller aligns first.</summary>
    public void Raw(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            WriteByte(b);
        }
    }

    /// <summary>Takes the bytes written so far (whole bytes; a partial byte stays).</summary>
    public byte[] Take()
    {
        var taken = _output.ToArray();
        _output.Clear();
        return taken;
    }

    /// <summary>Ends a message with a sync flush: an empty stored block whose 00 00 FF FF is then stripped (RFC 7692 7.2.1).</summary>
    public byte[] TakeSyncFlushed()
    {
        Stored([], final: false);
        var all = Take();
        return all[..^4];
    }

    private int Hash(int i) => (int)((uint)(_history[i] | (_history[i + 1] << 8) | (_history[i + 2] << 16)) * 2654435761u >> (32 - HashBits));

    // Records every position before pos (that has 3 bytes after it) as the latest of its hash.
    private void HashUpTo(int pos)
    {
        for (; _hashed < pos && _hashed + 3 <= _historyLength; _hashed++)
        {
            _head[Hash(_hashed)] = _hashed;
        }
    }

    private void AddHistory(ReadOnlySpan<byte> data)
    {
        if (_historyLength + data.Length > _history.Length)
        {
            Array.Resize(ref _history, Math.Max(_history.Length * 2, _historyLength + data.Length));
        }

        data.CopyTo(_history.AsSpan(_historyLength));
        _historyLength += data.Length;
    }

    private void WriteLiteral(byte value) => WriteSymbol(value);

    private void WriteLength(int length)
    {
        var code = Array.FindLastIndex(LengthBase, b => b <= length);
        WriteSymbol(257 + code);
        WriteBits((uint)(length - LengthBase[code]), LengthExtra[code]);
    }

    private void WriteDistance(int distance)
    {
        var code = Array.FindLastIndex(DistanceBase, b => b <= distance);
        WriteReversed((uint)code, 5);
        WriteBits((uint)(distance - DistanceBase[code]), DistanceExtra[code]);
    }

    private void WriteSymbol(int symbol)
    {
        switch (symbol)
        {
            case <= 143:
                WriteReversed((uint)(0x30 + symbol), 8);
                break;
            case <= 255:
                WriteReversed((uint)(0x190 + symbol - 144), 9);
                break;
            case <= 279:
                WriteReversed((uint)(symbol - 256), 7);
                break;
            default:
                WriteReversed((uint)(0xC0 + symbol - 280), 8);
                break;
        }
    }

    // Huffman codes go out most significant bit first.
    private void WriteReversed(uint code, int length)
    {
        uint reversed = 0;
        for (var i = 0; i < length; i++)
        {
            reversed |= ((code >> i) & 1) << (length - 1 - i);
        }

        WriteBits(reversed, length);
    }

    private void WriteBits(uint value, int count)
    {
        _bits |= (ulong)value << _bitCount;
        _bitCount += count;
        while (_bitCount >= 8)
        {
            _output.Add((byte)_bits);
            _bits >>= 8;
            _bitCount -= 8;
        }
    }

    private void WriteByte(byte value) => WriteBits(value, 8);
}

using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net.WebSockets;

namespace Transport.WebSockets.Pipelines;

/// <summary>What permessage-deflate (RFC 7692) settled on for one connection.</summary>
/// <param name="ClientNoContextTakeover">We must reset our compressor after every message.</param>
/// <param name="ServerNoContextTakeover">The server resets its compressor after every message (our inflater works either way).</param>
/// <param name="ServerMaxWindowBits">The server's window (our inflater accepts any window up to 15).</param>
internal sealed record DeflateAgreement(bool ClientNoContextTakeover, bool ServerNoContextTakeover, int ServerMaxWindowBits)
{
    public const string Token = "permessage-deflate";

    /// <summary>
    /// The offer for the request's Sec-WebSocket-Extensions. client_max_window_bits is never offered:
    /// System.IO.Compression compresses with a 15-bit window and cannot honour a smaller one, so the
    /// server may not ask for it (RFC 7692 7.1.2.2).
    /// </summary>
    public static string Offer(WebSocketDeflateOptions options)
    {
        var offer = Token;
        if (!options.ClientContextTakeover)
        {
            offer += "; client_no_context_takeover";
        }

        if (!options.ServerContextTakeover)
        {
            offer += "; server_no_context_takeover";
        }

        if (options.ServerMaxWindowBits < 15)
        {
            offer += "; server_max_window_bits=" + options.ServerMaxWindowBits.ToString(CultureInfo.InvariantCulture);
        }

        return offer;
    }

    /// <summary>Parses the server's answer; null with an error when it is not an acceptable answer to our offer.</summary>
    /// <param name="extensions">Every Sec-WebSocket-Extensions value of the response (each may list several, comma-separated).</param>
    /// <param name="offered">What we offered, or null when we offered nothing.</param>
    /// <param name="agreement">The agreement, or null when the server declined.</param>
    /// <param name="error">Why the answer is unacceptable (names parameters, never values of other headers).</param>
    public static bool TryParse(IEnumerable<string> extensions, WebSocketDeflateOptions? offered, out DeflateAgreement? agreement, out string? error)
    {
        agreement = null;
        error = null;
        foreach (var header in extensions)
        {
            foreach (var extension in header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var parts = extension.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (!string.Equals(parts[0], Token, StringComparison.OrdinalIgnoreCase) || offered is null)
                {
                    error = $"the server accepted an extension that was not offered ({parts[0]})";
                    return false;
                }

                if (agreement is not null)
                {
                    error = "the server accepted permessage-deflate twice";
                    return false;
                }

                bool clientNoContext = false, serverNoContext = false;
                var serverBits = 15;
                var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                foreach (var parameter in parts.Skip(1))
                {
                    var eq = parameter.IndexOf('=', StringComparison.Ordinal);
                    var name = (eq < 0 ? parameter : parameter[..eq]).Trim();
                    var value = eq < 0 ? null : parameter[(eq + 1)..].Trim().Trim('"');
                    if (!seen.Add(name))
                    {
                        // RFC 7692 7: a response with two parameters of the same name fails the connection.
                        error = $"the server's permessage-deflate parameter '{name}' appears twice";
                        return false;
                    }

                    switch (name.ToLowerInvariant())
                    {
                        case "client_no_context_takeover" when value is null:
                            clientNoContext = true;
                            break;
                        case "server_no_context_takeover" when value is null:
                            serverNoContext = true;
                            break;
                        case "server_max_window_bits" when TryBits(value, out var bits):
                            serverBits = bits;
                            break;
                        case "client_max_window_bits" when TryBits(value, out var bits) && bits == 15:
                            // Not offered, but 15 is what we compress with anyway: harmless.
                            break;
                        default:
                            error = $"the server's permessage-deflate parameter '{name}' is not acceptable";
                            return false;
                    }
                }

                agreement = new DeflateAgreement(clientNoContext || !offered.ClientContextTakeover, serverNoContext, serverBits);
            }
        }

        return true;
    }

    private static bool TryBits(string? value, out int bits) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out bits) && bits is >= 8 and <= 15;
}

/// <summary>
/// The receive side of permessage-deflate: one inflater for the connection, fed each frame's bytes as
/// they arrive and read into the reassembly buffer up to the limit and never beyond (the caller probes
/// one byte past the limit).
/// </summary>
/// <remarks>
/// <para>
/// Invariants (tests: PerMessageDeflateTests):
/// Deflate.I1: a deflate stream may end with a final (BFINAL=1) block (RFC 7692 7.2.3.4). The inflater
///     notices the end (the stream stops without asking for input) and goes on with a fresh one, so
///     every later message inflates; System.IO.Compression would otherwise return 0 bytes for good and
///     every later message would arrive empty. What follows the final block in the same message (the
///     RFC's 0x00 octet, or further blocks in the next fragment) goes to the fresh stream; when nothing
///     follows, the 4-byte tail this side appends belongs to the ended stream and is not fed.
/// Deflate.I2: the fresh stream starts with the last 32 KiB of output as its window (fed as a stored block
///     whose output is discarded): with context takeover the window belongs to the connection, not to
///     one deflate stream (RFC 7692 7.2.3.2), so a message may refer back across a final block. With
///     server_no_context_takeover only the current message's output is kept.
/// Deflate.I3: the last 2 bytes of every fed chunk are handed to the decompressor one at a time, so a
///     final block that ends there is located exactly. A final block followed by 2 or more further bytes
///     of the same chunk (a deflate stream that continues inside one frame) cannot be located through
///     System.IO.Compression: the message fails with <see cref="DeflateLayoutException"/> (the reader
///     closes 1003), never with data dropped.
/// Deflate.I4: with server_no_context_takeover every message starts on a fresh inflater with an empty
///     window, as RFC 7692 7.2.3.2 describes it: corrupt data that refers past the message's start, or
///     that leaves a block unfinished at its end, fails that message (1007) instead of reading on into the
///     next one. With context takeover the deflate stream (and its window) is the connection's.
/// </para>
/// </remarks>
internal sealed class MessageInflater : IDisposable
{
    /// <summary>The largest LZ77 window (RFC 1951): what a later block may refer back to.</summary>
    public const int WindowBytes = 32 * 1024;

    private static readonly byte[] Trailer = [0x00, 0x00, 0xFF, 0xFF];
    private readonly FeedStream _feed = new();
    private readonly bool _contextTakeover;
    private byte[]? _history; // a ring of the last output (Deflate.I2), pooled, rented with the first output
    private int _historyEnd; // where the next output byte goes
    private int _historyLength; // valid bytes, at most WindowBytes
    private DeflateStream _inflate;
    private bool _endedWithFinalBlock; // Deflate.I1: the stream ended and nothing of the message followed yet

    /// <param name="contextTakeover">False when server_no_context_takeover was agreed: history lasts one message.</param>
    public MessageInflater(bool contextTakeover = true)
    {
        _contextTakeover = contextTakeover;
        _inflate = NewStream();
    }

    /// <summary>How many times a final block ended the deflate stream (for tests and diagnostics).</summary>
    public int FinalBlocks { get; private set; }

    /// <summary>Makes <paramref name="compressed"/> the input of the next reads (valid until they return 0).</summary>
    public void Feed(ReadOnlySequence<byte> compressed)
    {
        _feed.Set(compressed, trailer: false);
        if (!compressed.IsEmpty)
        {
            _endedWithFinalBlock = false;
        }
    }

    /// <summary>Feeds the 4 bytes RFC 7692 7.2.2 says the sender stripped from the end of the message.</summary>
    public void FeedTrailer()
    {
        // Deflate.I1: a message whose data ended with its final block has no open stream to terminate.
        _feed.Set(_endedWithFinalBlock ? default : new ReadOnlySequence<byte>(Trailer), trailer: true);
    }

    /// <summary>
    /// The message's last output has been read. With server_no_context_takeover each message is a deflate
    /// stream of its own (Deflate.I4): the next one starts on a fresh inflater with no history, so a
    /// message that left the stream inside a block (corrupt data) cannot turn the next one into garbage.
    /// </summary>
    public void EndMessage()
    {
        _endedWithFinalBlock = false;
        if (!_contextTakeover)
        {
            _historyLength = 0;
            _inflate.Dispose();
            _inflate = NewStream();
        }
    }

    /// <summary>Inflates into <paramref name="destination"/>; 0 when the input fed so far is used up.</summary>
    /// <exception cref="InvalidDataException">The data is not valid deflate.</exception>
    /// <exception cref="DeflateLayoutException">Data continues after a final block inside one chunk (Deflate.I3).</exception>
    public int Read(Span<byte> destination)
    {
        while (true)
        {
            _feed.Exhausted = false;
            var n = _inflate.Read(destination);
            if (n > 0)
            {
                Remember(destination[..n]);
                return n;
            }

            if (_feed.Exhausted || destination.IsEmpty)
            {
                return 0; // needs more input
            }

            // The stream stopped without asking for input: it ended with a final block (Deflate.I1).
            Restart();
        }
    }

    public void Dispose()
    {
        _inflate.Dispose();
        if (Interlocked.Exchange(ref _history, null) is { } history)
        {
            ArrayPool<byte>.Shared.Return(history);
        }
    }

    private static DeflateStream NewStream(Stream input) => new(input, CompressionMode.Decompress, leaveOpen: true);

    private DeflateStream NewStream() => NewStream(_feed);

    private void Restart()
    {
        FinalBlocks++;
        if (_feed.HoldsTrailer)
        {
            // The stream ended on the message's last bytes, or inside our own tail: the tail is not data.
            _feed.Set(default, trailer: true);
        }
        else if (!_feed.LastWasSingle)
        {
            throw new DeflateLayoutException();
        }
        else if (_feed.Remaining == 0)
        {
            _endedWithFinalBlock = true;
        }

        _inflate.Dispose();
        _inflate = NewStream();
        if (_historyLength > 0)
        {
            Prime();
        }
    }

    // Deflate.I2: feeds the history as one stored block (BFINAL=0, BTYPE=00) ahead of what is left to
    // read, and discards exactly its output, so the fresh stream's window is the old one.
    private void Prime()
    {
        var block = ArrayPool<byte>.Shared.Rent(5 + _historyLength);
        try
        {
            block[0] = 0x00;
            BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(1), (ushort)_historyLength);
            BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(3), (ushort)~_historyLength);
            var start = (_historyEnd - _historyLength + WindowBytes) % WindowBytes;
            var firstPart = Math.Min(_historyLength, WindowBytes - start);
            _history!.AsSpan(start, firstPart).CopyTo(block.AsSpan(5));
            _history.AsSpan(0, _historyLength - firstPart).CopyTo(block.AsSpan(5 + firstPart));
            _feed.Prefix = block.AsMemory(0, 5 + _historyLength);

            Span<byte> discard = stackalloc byte[1024];
            var left = _historyLength;
            while (left > 0)
            {
                var n = _inflate.Read(discard[..Math.Min(discard.Length, left)]);
                if (n == 0)
                {
                    throw new InvalidOperationException("The inflater did not replay its window.");
                }

                left -= n;
            }

            Debug.Assert(_feed.Prefix.IsEmpty, "the stored block was consumed whole");
        }
        finally
        {
            _feed.Prefix = default;
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    private void Remember(ReadOnlySpan<byte> output)
    {
        _history ??= ArrayPool<byte>.Shared.Rent(WindowBytes);
        if (output.Length >= WindowBytes)
        {
            output[^WindowBytes..].CopyTo(_history);
            _historyEnd = 0;
            _historyLength = WindowBytes;
            return;
        }

        var first = Math.Min(output.Length, WindowBytes - _historyEnd);
        output[..first].CopyTo(_history.AsSpan(_historyEnd));
        output[first..].CopyTo(_history);
        _historyEnd = (_historyEnd + output.Length) % WindowBytes;
        _historyLength = Math.Min(WindowBytes, _historyLength + output.Length);
    }

    /// <summary>
    /// A read-only stream over the bytes currently fed; returns 0 when they are used up (and says so).
    /// The last <see cref="SingleTail"/> bytes of a message chunk go out one per read (Deflate.I3).
    /// </summary>
    private sealed class FeedStream : Stream
    {
        public const int SingleTail = 2;

        private ReadOnlySequence<byte> _input;
        private bool _trailer;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        /// <summary>Bytes handed out before the input (the stored block that primes a fresh stream).</summary>
        public ReadOnlyMemory<byte> Prefix { get; set; }

        /// <summary>Set when a read found nothing left: the inflater wants more input.</summary>
        public bool Exhausted { get; set; }

        /// <summary>The last bytes handed out were a single byte of a message chunk (its position is exact).</summary>
        public bool LastWasSingle { get; private set; }

        /// <summary>The input is our own tail (handed out or not).</summary>
        public bool HoldsTrailer => _trailer;

        /// <summary>Input bytes not handed out yet.</summary>
        public long Remaining => _input.Length;

        public void Set(ReadOnlySequence<byte> input, bool trailer)
        {
            _input = input;
            _trailer = trailer;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (!Prefix.IsEmpty)
            {
                var p = Math.Min(buffer.Length, Prefix.Length);
                Prefix.Span[..p].CopyTo(buffer);
                Prefix = Prefix[p..];
                LastWasSingle = false;
                return p;
            }

            if (_input.IsEmpty || buffer.IsEmpty)
            {
                Exhausted = true;
                return 0;
            }

            var single = !_trailer && _input.Length <= SingleTail;
            var n = single ? 1 : (int)Math.Min(buffer.Length, _trailer ? _input.Length : _input.Length - SingleTail);
            _input.Slice(0, n).CopyTo(buffer);
            _input = _input.Slice(n);
            LastWasSingle = single;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>
/// A deflate stream continued after a final (BFINAL=1) block at a point System.IO.Compression does not
/// report (Deflate.I3): valid RFC 7692 data this leaf cannot inflate, so the message fails (1003).
/// </summary>
internal sealed class DeflateLayoutException : Exception
{
    public DeflateLayoutException()
        : base("permessage-deflate data continues after a final (BFINAL=1) block in the middle of a frame; this leaf continues only after a final block that ends within the last two bytes of a frame's data")
    {
    }
}

/// <summary>
/// The send side of permessage-deflate: a 15-bit-window deflater, kept across messages unless the
/// agreement says client_no_context_takeover. Each message ends with a sync flush whose
/// 00 00 FF FF tail is stripped (RFC 7692 7.2.1).
/// </summary>
internal sealed class MessageDeflater : IDisposable
{
    private readonly bool _noContextTakeover;
    private readonly MemoryStream _output = new();
    private DeflateStream? _deflate;

    public MessageDeflater(bool noContextTakeover) => _noContextTakeover = noContextTakeover;

    /// <summary>Compresses one whole message; the result is valid until the next call.</summary>
    public ReadOnlyMemory<byte> Compress(ReadOnlySpan<byte> payload)
    {
        _output.SetLength(0);
        _deflate ??= new DeflateStream(_output, CompressionLevel.Fastest, leaveOpen: true);
        _deflate.Write(payload);
        _deflate.Flush(); // a sync flush: ends with 00 00 FF FF
        var compressed = _output.GetBuffer().AsMemory(0, (int)_output.Length - 4);
        if (_noContextTakeover)
        {
            // Writes the deflate end block past the bytes returned; they stay valid (the array is not shrunk).
            _deflate.Dispose();
            _deflate = null;
        }

        return compressed;
    }

    public void Dispose() => _deflate?.Dispose();
}

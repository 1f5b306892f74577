using System.Buffers;
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
                foreach (var parameter in parts.Skip(1))
                {
                    var eq = parameter.IndexOf('=', StringComparison.Ordinal);
                    var name = (eq < 0 ? parameter : parameter[..eq]).Trim();
                    var value = eq < 0 ? null : parameter[(eq + 1)..].Trim().Trim('"');
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
/// The receive side of permessage-deflate: one inflater for the connection's life (correct whether
/// or not the server takes context over), fed each frame's bytes as they arrive, read into the
/// reassembly buffer up to the limit and never beyond (the caller probes one byte past the limit).
/// </summary>
internal sealed class MessageInflater : IDisposable
{
    private static readonly byte[] Trailer = [0x00, 0x00, 0xFF, 0xFF];
    private readonly FeedStream _feed = new();
    private DeflateStream _inflate;

    public MessageInflater() => _inflate = new DeflateStream(_feed, CompressionMode.Decompress, leaveOpen: true);

    /// <summary>Makes <paramref name="compressed"/> the input of the next reads (valid until they return 0).</summary>
    public void Feed(ReadOnlySequence<byte> compressed) => _feed.Set(compressed);

    /// <summary>Feeds the 4 bytes RFC 7692 7.2.2 says the sender stripped from the end of the message.</summary>
    public void FeedTrailer() => _feed.Set(new ReadOnlySequence<byte>(Trailer));

    /// <summary>Inflates into <paramref name="destination"/>; 0 when the input fed so far is used up.</summary>
    /// <exception cref="InvalidDataException">The data is not valid deflate.</exception>
    public int Read(Span<byte> destination) => _inflate.Read(destination);

    /// <summary>Starts a fresh inflater (after a message whose deflate stream ended with a final block).</summary>
    public void Reset()
    {
        _inflate.Dispose();
        _inflate = new DeflateStream(_feed, CompressionMode.Decompress, leaveOpen: true);
    }

    public void Dispose() => _inflate.Dispose();

    /// <summary>A read-only stream over the bytes currently fed; returns 0 when they are used up.</summary>
    private sealed class FeedStream : Stream
    {
        private ReadOnlySequence<byte> _input;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Set(ReadOnlySequence<byte> input) => _input = input;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, _input.Length);
            _input.Slice(0, n).CopyTo(buffer);
            _input = _input.Slice(n);
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

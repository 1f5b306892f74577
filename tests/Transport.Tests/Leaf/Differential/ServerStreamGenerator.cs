using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Transport.Tests.Leaf.Differential;

/// <summary>
/// Generates server byte streams from a seed: valid sessions (fragmented, interleaved control frames,
/// split code points, permessage-deflate with random parameters and block layouts), sessions with one
/// known violation, and random byte-level mutations of valid sessions. Every case is a pure function
/// of (seed, index), so any case can be replayed alone.
/// </summary>
internal static class ServerStreamGenerator
{
    private static readonly int[] ValidCloseCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    private static readonly int[] InvalidCloseCodes = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
    private static readonly byte[][] InvalidUtf8 =
    [
        [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0xC3, 0x28], [0x80], [0xE0, 0x80, 0xAF], [0xF8, 0x88, 0x80, 0x80, 0x80],
    ];

    private static readonly string[] Words = ["bid", "ask", "trade", "101.25", "qty", "BTC-USD", "€", "✓", "日本", "😀", "ü", "seq", "{\"op\":", "}"];

    public static ServerCase Generate(long seed, int index)
    {
        var random = new Random(CaseSeed(seed, index));
        var roll = random.NextDouble();
        return roll < 0.40 ? Build(seed, index, random, "valid", violation: null, mutate: false)
            : roll < 0.70 ? Build(seed, index, random, "violation", violation: PickViolation(random), mutate: false)
            : Build(seed, index, random, "mutated", violation: null, mutate: true);
    }

    /// <summary>SplitMix64 of (seed, index): a well-spread, reproducible seed per case.</summary>
    public static int CaseSeed(long seed, int index)
    {
        unchecked
        {
            var z = (ulong)seed + ((ulong)index * 0x9E3779B97F4A7C15UL);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return (int)(z ^ (z >> 31));
        }
    }

    private static string PickViolation(Random random)
    {
        string[] all =
        [
            "rsv-bits", "reserved-opcode", "masked", "control-too-long", "fragmented-control", "orphan-continuation", "interleaved-message",
            "rsv1-continuation", "compressed-control", "invalid-utf8", "invalid-utf8", "close-code", "close-1-byte", "close-reason-utf8",
            "length-msb", "oversize", "invalid-deflate",
        ];
        return all[random.Next(all.Length)];
    }

    private static ServerCase Build(long seed, int index, Random random, string category, string? violation, bool mutate)
    {
        var deflate = random.NextDouble() < 0.4 || violation is "rsv1-continuation" or "compressed-control" or "invalid-deflate" ? PickDeflate(random) : null;
        var limit = random.NextDouble() < 0.85 ? 1024 * 1024 : random.Next(16, 5000);
        // Mutated streams keep to layouts both clients read, so what differs is the mutation's doing
        // (the runtime stops at any final block: documented difference D5, exercised by the other categories).
        var session = new Session(random, deflate, limit, finalBlocks: !mutate);

        var messages = random.Next(0, 7);
        var violateAt = violation is null ? -1 : random.Next(0, messages + 1);
        for (var i = 0; i <= messages && !session.Over; i++)
        {
            if (i == violateAt)
            {
                session.Violate(violation!);
            }

            if (i < messages && !session.Over)
            {
                session.Message();
            }
        }

        if (!session.Over)
        {
            session.End();
        }

        var stream = session.Bytes();
        var features = session.Features;
        var log = session.Log;
        if (mutate)
        {
            stream = Mutate(random, stream, session.FrameStarts, log);
            features.Add("mutated");
        }

        return new ServerCase
        {
            Seed = seed,
            Index = index,
            Category = violation is null ? category : $"{category}:{violation}",
            Deflate = deflate,
            MaxMessageBytes = limit,
            Stream = stream,
            ReadSizes = ReadPlan(random, stream.Length),
            Oracle = mutate ? null : session.Oracle(),
            Features = features,
            FrameLog = log,
        };
    }

    private static DeflateSession PickDeflate(Random random)
    {
        var bits = random.NextDouble() < 0.5 ? 15 : random.Next(8, 15);
        var encoder = bits == 15 && random.NextDouble() < 0.3 ? "zlib" : "blocks";
        return new DeflateSession(random.NextDouble() < 0.35, bits, encoder);
    }

    private static List<int> ReadPlan(Random random, int length)
    {
        var mode = random.Next(10);
        var sizes = new List<int>();
        var total = 0;
        while (total < length)
        {
            var size = mode switch
            {
                0 => length,
                1 => random.Next(1, 17),
                < 6 => random.Next(1, 513),
                _ => random.Next(1, 8193),
            };
            sizes.Add(size);
            total += size;
        }

        return sizes;
    }

    private static byte[] Mutate(Random random, byte[] stream, List<int> frameStarts, List<string> log)
    {
        var bytes = new List<byte>(stream);
        var count = random.Next(1, 4);
        for (var m = 0; m < count && bytes.Count > 0; m++)
        {
            // Headers are where parsers differ: half the mutations land on a frame's first bytes.
            var at = random.NextDouble() < 0.5 && frameStarts.Count > 0
                ? Math.Min(bytes.Count - 1, frameStarts[random.Next(frameStarts.Count)] + random.Next(0, 10))
                : random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0:
                case 1:
                    var bit = random.Next(8);
                    bytes[at] ^= (byte)(1 << bit);
                    log.Add($"MUT flip bit {bit} of byte {at}");
                    break;
                case 2:
                    var value = (byte)random.Next(256);
                    bytes[at] = value;
                    log.Add($"MUT byte {at} := 0x{value:X2}");
                    break;
                case 3:
                    log.Add($"MUT truncate at {at}");
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 4:
                    var inserted = new byte[random.Next(1, 12)];
                    random.NextBytes(inserted);
                    bytes.InsertRange(at, inserted);
                    log.Add($"MUT insert {inserted.Length} B at {at}");
                    break;
                default:
                    var length = Math.Min(random.Next(1, 40), bytes.Count - at);
                    bytes.RemoveRange(at, length);
                    log.Add($"MUT delete {length} B at {at}");
                    break;
            }
        }

        return [.. bytes];
    }

    /// <summary>One server session being written: frames, the messages a client should deliver, and how it should end.</summary>
    private sealed class Session
    {
        private readonly Random _random;
        private readonly DeflateSession? _deflate;
        private readonly int _limit;
        private readonly List<byte> _bytes = [];
        private readonly List<(FrameKind, byte[])> _expected = [];
        private readonly DeflateBlockWriter _blocks = new();
        private MemoryStream? _zlibOutput;
        private DeflateStream? _zlib;
        private EndKind? _end;
        private int? _closeCode;
        private string? _closeReason;
        private int? _expectedSent;
        private readonly bool _finalBlocks;
        private readonly List<int> _unsupportedLayoutAt = [];

        public Session(Random random, DeflateSession? deflate, int limit, bool finalBlocks)
        {
            _finalBlocks = finalBlocks;
            _random = random;
            _deflate = deflate;
            _limit = limit;
            if (deflate is not null)
            {
                _blocks.MaxDistance = Math.Max(0, Math.Min(32 * 1024, 1 << deflate.ServerMaxWindowBits) - 262);
            }
        }

        public HashSet<string> Features { get; } = [];

        public List<string> Log { get; } = [];

        public List<int> FrameStarts { get; } = [];

        public bool Over => _end is not null;

        public byte[] Bytes() => [.. _bytes];

        public RunResult Oracle() =>
            new(_expected, _end ?? EndKind.ConnectionLost, _closeCode, _closeReason, _expectedSent, "oracle") { UnsupportedLayoutAt = _unsupportedLayoutAt };

        public void Message()
        {
            var text = _random.NextDouble() < 0.6;
            var message = text ? Text(Size()) : Binary(Size());
            SendMessage(text, message, compress: _deflate is not null && _random.NextDouble() < 0.85);
        }

        public void End()
        {
            if (_random.NextDouble() < 0.3)
            {
                _end = EndKind.ConnectionLost;
                Log.Add("EOF");
                return;
            }

            if (_random.NextDouble() < 0.15)
            {
                Frame(0x8, true, 0, []);
                _end = EndKind.PeerClose;
                _closeCode = CloseCodes.NoStatus;
                return;
            }

            var code = ValidCloseCodes[_random.Next(ValidCloseCodes.Length)];
            var reason = _random.NextDouble() < 0.5 ? null : Truncate(Encoding.UTF8.GetString(Text(_random.Next(0, 140))), 123);
            Frame(0x8, true, 0, ClosePayload(code, reason is null ? [] : Encoding.UTF8.GetBytes(reason)));
            _end = EndKind.PeerClose;
            _closeCode = code;
            _closeReason = reason;
            if (_random.NextDouble() < 0.2)
            {
                _bytes.AddRange(Binary(_random.Next(1, 20))); // bytes after the close: never read
                Log.Add("garbage after close");
            }
        }

        public void Violate(string violation)
        {
            Features.Add(violation);
            var code = CloseCodes.ProtocolError;
            switch (violation)
            {
                case "rsv-bits":
                    Frame(_random.Next(2) == 0 ? 1 : 2, true, _deflate is null ? _random.Next(1, 8) : _random.Next(1, 4), Text(5));
                    break;
                case "reserved-opcode":
                    int[] reserved = [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF];
                    Frame(reserved[_random.Next(reserved.Length)], true, 0, Binary(_random.Next(0, 20)));
                    break;
                case "masked":
                    Frame(_random.Next(2) == 0 ? 1 : 9, true, 0, Text(_random.Next(0, 30)), masked: true);
                    break;
                case "control-too-long":
                    var opcode = 8 + _random.Next(3);
                    if (_random.Next(2) == 0)
                    {
                        Frame(opcode, true, 0, ClosePayload(1000, Binary(_random.Next(124, 300))));
                    }
                    else
                    {
                        Frame(opcode, true, 0, [1, 2, 3], declaredLength: (1L << 32) + 3); // the int cast gave 3 (issue 26, item 3)
                        _bytes.AddRange(Text(40));
                    }

                    break;
                case "fragmented-control":
                    Frame(9, false, 0, Binary(_random.Next(0, 10)));
                    Frame(0, true, 0, Binary(_random.Next(0, 10)));
                    break;
                case "orphan-continuation":
                    Frame(0, _random.Next(2) == 0, 0, Text(_random.Next(0, 20)));
                    break;
                case "interleaved-message":
                    Frame(1, false, 0, Text(_random.Next(1, 20)));
                    Frame(_random.Next(1, 3), true, 0, Text(_random.Next(0, 20)));
                    break;
                case "rsv1-continuation":
                    var compressed = CompressMessage(Text(40), out _);
                    Frame(1, false, 4, compressed[..(compressed.Length / 2)]);
                    Frame(0, true, 4, compressed[(compressed.Length / 2)..]);
                    break;
                case "compressed-control":
                    Features.Add("compressed-control");
                    Frame(9 + _random.Next(2), true, 4, Binary(_random.Next(0, 10)));
                    break;
                case "invalid-utf8":
                    code = CloseCodes.InvalidPayload;
                    var valid = Text(Math.Min(Size(), _limit - 16));
                    var at = _random.Next(valid.Length + 1);
                    while (at > 0 && at < valid.Length && (valid[at] & 0xC0) == 0x80)
                    {
                        at--; // on a character boundary, so the bad sequence is what is invalid
                    }

                    byte[] bad = _random.Next(8) == 0 ? [0xE2, 0x82] : InvalidUtf8[_random.Next(InvalidUtf8.Length)];
                    var message = _random.Next(8) == 0 ? [.. valid, 0xF0, 0x9F, 0x98] : (byte[])[.. valid[..at], .. bad, .. valid[at..]];
                    SendMessage(true, message, compress: _deflate is not null && _random.NextDouble() < 0.5, expectDelivered: false);
                    break;
                case "close-code":
                    Frame(8, true, 0, ClosePayload(InvalidCloseCodes[_random.Next(InvalidCloseCodes.Length)], Text(_random.Next(0, 10))));
                    break;
                case "close-1-byte":
                    Frame(8, true, 0, [0x03]);
                    break;
                case "close-reason-utf8":
                    code = CloseCodes.InvalidPayload;
                    Frame(8, true, 0, ClosePayload(1000, [.. Text(3), .. InvalidUtf8[_random.Next(InvalidUtf8.Length)]]));
                    break;
                case "length-msb":
                    Frame(2, true, 0, [], declaredLength: unchecked((long)0x8000000000000010UL));
                    _bytes.AddRange(Binary(16));
                    break;
                case "oversize":
                    _end = EndKind.TooBig;
                    _expectedSent = CloseCodes.MessageTooBig;
                    // A small limit gets a frame that really passes it; a large one only says so in its header.
                    var small = _limit < 10_000;
                    Frame(2, true, 0, Binary(small ? _limit + 1 : 100), declaredLength: small ? null : (long)_limit + 1 + _random.Next(0, 1000));
                    Features.Add(_limit < 10_000 ? "oversize-sent" : "oversize-declared");
                    Log.Add("EOF (inside the oversized frame)");
                    return;
                case "invalid-deflate":
                    code = CloseCodes.InvalidPayload;
                    Features.Add("invalid-deflate");
                    Frame(_random.Next(1, 3), true, 4, [0x06, .. Binary(_random.Next(0, 10))]); // BTYPE=11: reserved
                    break;
            }

            _end = EndKind.Failed;
            _expectedSent = code;
            if (_random.NextDouble() < 0.5)
            {
                End(); // what follows a violation is never read
                _end = EndKind.Failed;
                _closeCode = null;
                _closeReason = null;
            }
        }

        private int Size()
        {
            var roll = _random.NextDouble();
            return roll < 0.05 ? 0
                : roll < 0.75 ? _random.Next(1, 200)
                : roll < 0.95 ? _random.Next(200, 2_000)
                : roll < 0.997 ? _random.Next(2_000, 20_000)
                : _random.Next(20_000, 150_000);
        }

        private byte[] Text(int bytes)
        {
            var text = new List<byte>(bytes + 8);
            var compressible = _deflate is not null && _random.Next(2) == 0;
            Span<byte> utf8 = stackalloc byte[4];
            while (text.Count < bytes)
            {
                if (compressible)
                {
                    text.AddRange(Encoding.UTF8.GetBytes(Words[_random.Next(Words.Length)]));
                    text.Add((byte)' ');
                    continue;
                }

                var roll = _random.Next(100);
                var codePoint = roll < 70 ? _random.Next(0x20, 0x7F)
                    : roll < 80 ? _random.Next(0x80, 0x800)
                    : roll < 95 ? NotSurrogate(_random.Next(0x800, 0x10000))
                    : _random.Next(0x10000, 0x110000);
                var n = new Rune(codePoint).EncodeToUtf8(utf8);
                for (var i = 0; i < n; i++)
                {
                    text.Add(utf8[i]);
                }
            }

            return [.. text];
        }

        private static int NotSurrogate(int codePoint) => codePoint is >= 0xD800 and <= 0xDFFF ? 0xFFFD : codePoint;

        private byte[] Binary(int bytes)
        {
            var data = new byte[bytes];
            if (_random.Next(2) == 0)
            {
                _random.NextBytes(data);
            }
            else
            {
                var period = _random.Next(1, 40);
                for (var i = 0; i < bytes; i++)
                {
                    data[i] = (byte)((i % period) * 7);
                }
            }

            return data;
        }

        private static string Truncate(string text, int maxBytes)
        {
            while (Encoding.UTF8.GetByteCount(text) > maxBytes)
            {
                text = text[..^(char.IsLowSurrogate(text[^1]) ? 2 : 1)];
            }

            return text;
        }

        private static byte[] ClosePayload(int code, byte[] reason)
        {
            var payload = new byte[2 + reason.Length];
            BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
            reason.CopyTo(payload, 2);
            return payload;
        }

        private void SendMessage(bool text, byte[] message, bool compress, bool expectDelivered = true)
        {
            var wire = message;
            var layout = "raw";
            if (compress)
            {
                wire = CompressMessage(message, out layout);
            }

            var pieces = Fragment(wire);
            for (var i = 0; i < pieces.Count; i++)
            {
                if (_random.NextDouble() < 0.12)
                {
                    Frame(_random.Next(2) == 0 ? 9 : 10, true, 0, Binary(_random.Next(0, 126)));
                }

                Frame(i == 0 ? (text ? 1 : 2) : 0, i == pieces.Count - 1, i == 0 && compress ? 4 : 0, pieces[i]);
            }

            Log.Add($"  = {(text ? "text" : "binary")} {message.Length} B{(compress ? $" deflated ({layout}) to {wire.Length} B" : string.Empty)} in {pieces.Count} frames");
            if (!expectDelivered)
            {
                return;
            }

            if (message.Length > _limit)
            {
                _end = EndKind.TooBig;
                _expectedSent = CloseCodes.MessageTooBig;
                return;
            }

            _expected.Add((text ? FrameKind.Text : FrameKind.Binary, message));
        }

        private List<byte[]> Fragment(byte[] wire)
        {
            var roll = _random.NextDouble();
            var cuts = new SortedSet<int>();
            if (roll >= 0.55)
            {
                var count = roll < 0.9 ? _random.Next(1, 4) : Math.Min(40, wire.Length / 2);
                for (var i = 0; i < count; i++)
                {
                    cuts.Add(_random.Next(0, wire.Length + 1));
                }
            }

            var pieces = new List<byte[]>();
            var from = 0;
            foreach (var cut in cuts)
            {
                pieces.Add(wire[from..cut]);
                from = cut;
            }

            pieces.Add(wire[from..]);
            return pieces;
        }

        private byte[] CompressMessage(byte[] message, out string layout)
        {
            Features.Add("deflate");
            if (_deflate!.ServerNoContextTakeover)
            {
                _blocks.ForgetHistory();
            }

            if (_deflate.Encoder == "zlib")
            {
                if (_finalBlocks && _random.NextDouble() < 0.1)
                {
                    // A sender that finishes a fresh stream per message (BFINAL=1), as RFC 7692 7.2.1 allows.
                    layout = "zlib final block";
                    Features.Add("final-block");
                    ResetZlib();
                    return [.. ZlibFinished(message), 0x00];
                }

                if (_zlib is null || _deflate.ServerNoContextTakeover)
                {
                    ResetZlib();
                    _zlibOutput = new MemoryStream();
                    _zlib = new DeflateStream(_zlibOutput, CompressionLevel.Fastest, leaveOpen: true);
                }

                layout = "zlib sync flush";
                _zlibOutput!.SetLength(0);
                _zlib.Write(message);
                _zlib.Flush();
                var flushed = _zlibOutput.ToArray();
                return flushed.Length < 4 ? [0x00] : flushed[..^4]; // nothing to flush: 0x00 is an empty message (RFC 7692 7.2.3.6)
            }

            var roll = _random.NextDouble();
            layout = roll < 0.6 ? "sync" : roll < 0.75 ? "final+00" : roll < 0.88 ? "final bare" : roll < 0.95 ? "stored sync" : "final mid-message";
            if (!_finalBlocks && layout.StartsWith("final", StringComparison.Ordinal))
            {
                layout = "sync";
            }

            var parts = Split(message, layout == "final mid-message" ? Math.Max(2, _random.Next(2, 4)) : _random.Next(1, 4));
            for (var i = 0; i < parts.Count; i++)
            {
                var last = i == parts.Count - 1;
                var final = layout switch
                {
                    "final+00" or "final bare" => last,
                    "final mid-message" => i == 0,
                    _ => false,
                };
                if (layout == "stored sync" || _random.Next(4) == 0)
                {
                    var chunks = parts[i].Chunk(65_535).DefaultIfEmpty([]).ToList();
                    for (var c = 0; c < chunks.Count; c++)
                    {
                        _blocks.Stored(chunks[c], final && c == chunks.Count - 1);
                    }
                }
                else
                {
                    _blocks.Fixed(parts[i], final);
                }

                if (final)
                {
                    _blocks.AlignToByte();
                }
            }

            if (layout is "final+00" or "final bare" or "final mid-message")
            {
                Features.Add(layout == "final mid-message" ? "final-block-mid-message" : "final-block");
            }

            if (layout == "final mid-message")
            {
                _unsupportedLayoutAt.Add(_expected.Count); // Deflate.I3: the Pipelines leaf may refuse this message with 1003
            }

            switch (layout)
            {
                case "final+00":
                    _blocks.Raw([0x00]);
                    return _blocks.Take();
                case "final bare":
                    return _blocks.Take();
                default:
                    return _blocks.TakeSyncFlushed();
            }
        }

        private List<byte[]> Split(byte[] message, int count)
        {
            var cuts = Enumerable.Range(0, count - 1).Select(_ => _random.Next(0, message.Length + 1)).Order().ToList();
            var parts = new List<byte[]>();
            var from = 0;
            foreach (var cut in cuts)
            {
                parts.Add(message[from..cut]);
                from = cut;
            }

            parts.Add(message[from..]);
            return parts;
        }

        private void ResetZlib()
        {
            _zlib?.Dispose();
            _zlibOutput?.Dispose();
            _zlib = null;
            _zlibOutput = null;
        }

        private static byte[] ZlibFinished(byte[] message)
        {
            using var output = new MemoryStream();
            using (var deflate = new DeflateStream(output, CompressionLevel.Fastest, leaveOpen: true))
            {
                deflate.Write(message);
            }

            return output.ToArray();
        }

        private void Frame(int opcode, bool fin, int rsv, byte[] payload, long? declaredLength = null, bool masked = false)
        {
            FrameStarts.Add(_bytes.Count);
            var length = declaredLength ?? payload.Length;
            _bytes.Add((byte)((fin ? 0x80 : 0) | (rsv << 4) | opcode));
            var maskBit = masked ? 0x80 : 0;
            if (length is >= 0 and < 126)
            {
                _bytes.Add((byte)(maskBit | (int)length));
            }
            else if (length is >= 0 and <= ushort.MaxValue)
            {
                _bytes.Add((byte)(maskBit | 126));
                _bytes.Add((byte)(length >> 8));
                _bytes.Add((byte)length);
            }
            else
            {
                _bytes.Add((byte)(maskBit | 127));
                for (var shift = 56; shift >= 0; shift -= 8)
                {
                    _bytes.Add((byte)(length >> shift));
                }
            }

            if (masked)
            {
                byte[] key = [0x37, 0xFA, 0x21, 0x3D];
                _bytes.AddRange(key);
                _bytes.AddRange(payload.Select((b, i) => (byte)(b ^ key[i & 3])));
            }
            else
            {
                _bytes.AddRange(payload);
            }

            Log.Add($"{Name(opcode)}{(fin ? string.Empty : "~")}{(rsv != 0 ? $" rsv{rsv}" : string.Empty)}{(masked ? " masked" : string.Empty)} {payload.Length}{(declaredLength is { } d ? $"/{d}" : string.Empty)}");
        }

        private static string Name(int opcode) => opcode switch
        {
            0 => "cont",
            1 => "text",
            2 => "bin",
            8 => "close",
            9 => "ping",
            10 => "pong",
            _ => $"op{opcode:X}",
        };
    }
}

using System.Text;
using System.Text.Unicode;
using static Transport.Tests.Leaf.PipeLeafHarness;

namespace Transport.Tests.Leaf;

/// <summary>
/// Seeded fuzzing of the Pipelines leaf's parser: valid frame streams, then mutated ones (bit flips,
/// truncation, inserted garbage, lying lengths, reserved bits and opcodes, oversized control frames,
/// control frames between fragments, compressed data that inflates far past the limit).
/// Properties per case: no exception but TransportException, no hang (every receive completes over
/// the completed input), every frame within the limit and text valid UTF-8, a Protocol or
/// MessageTooBig failure sent exactly its close code, and allocation bounded by what was delivered
/// plus the limit. A failing case prints its seed.
/// </summary>
public sealed class PipeLeafFuzzTests
{
    private const int Limit = 16 * 1024;

    [Fact]
    [Trait("Invariant", "PipeLeaf.R2")]
    [Trait("Invariant", "PipeLeaf.R4")]
    public void Mutated_frame_streams_never_crash_hang_overallocate_or_send_the_wrong_close_code()
    {
        var outcomes = new Dictionary<string, int>();
        for (var seed = 0; seed < 1500; seed++)
        {
            var random = new Random(seed);
            var deflate = random.Next(3) == 0;
            var stream = Mutate(ValidStream(random, deflate), random);
            var outcome = RunCase(seed, stream, deflate, leased: seed % 2 == 1); // half in lease mode
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }

        // The generator must reach the interesting outcomes, or the fuzzer proves little.
        Assert.True(outcomes.GetValueOrDefault("Protocol/1002") > 50, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault("Connection/1006") > 50, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault("MessageTooBig/1009") > 10, string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault("Protocol/1007") > 5, string.Join(", ", outcomes));
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R4")]
    public void Random_garbage_never_crashes_or_hangs()
    {
        for (var seed = 10_000; seed < 10_500; seed++)
        {
            var random = new Random(seed);
            var garbage = new byte[random.Next(1, 4096)];
            random.NextBytes(garbage);
            RunCase(seed, garbage, deflate: random.Next(2) == 0);
        }
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R2")]
    public void Compressed_messages_that_inflate_far_past_the_limit_always_fail_1009()
    {
        for (var seed = 20_000; seed < 20_030; seed++)
        {
            var random = new Random(seed);
            var size = random.Next(Limit + 1, 4 * 1024 * 1024);
            var plain = new byte[size];
            if (random.Next(2) == 0)
            {
                random.NextBytes(plain.AsSpan(0, Math.Min(size, 2048))); // a little entropy, then zeros
            }

            var compressed = Deflate(plain);
            var fragments = random.Next(1, 5);
            var parts = new List<byte[]>();
            var chunk = (compressed.Length + fragments - 1) / fragments;
            for (var i = 0; i < fragments; i++)
            {
                var slice = compressed.AsSpan(Math.Min(i * chunk, compressed.Length), Math.Min(chunk, Math.Max(0, compressed.Length - (i * chunk))));
                parts.Add(ServerFrame(i == 0 ? 2 : 0, i == fragments - 1, slice, rsv: i == 0 ? 4 : 0));
                if (random.Next(3) == 0)
                {
                    parts.Add(ServerFrame(9, true, [1, 2, 3]));
                }
            }

            Assert.Equal("MessageTooBig/1009", RunCase(seed, Concat([.. parts]), deflate: true));
        }
    }

    private static string RunCase(int seed, byte[] stream, bool deflate, bool leased = false)
    {
        var harness = new PipeLeafHarness(Limit, deflate, payloads: leased ? Transport.WebSockets.Buffering.PayloadAllocator.Leased : null);
        var before = GC.GetAllocatedBytesForCurrentThread();
        harness.Feed(stream);
        List<Frame> frames;
        TransportException? error;
        try
        {
            (frames, error) = harness.Drain();
        }
        catch (Exception ex) when (ex is not TransportException)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed}: the parser threw {ex.GetType().Name}: {ex.Message}");
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var delivered = frames.Sum(f => (long)f.Length);

        // Bound: the delivered payloads, the input copied into the pipe, the reassembly buffer's
        // doubling steps up to the limit (about 2x), and fixed per-connection overhead (an inflater's buffers).
        var bound = delivered + (2L * stream.Length) + (3L * Limit) + (256 * 1024);
        Assert.True(allocated <= bound, $"seed {seed}: allocated {allocated} > {bound}");

        foreach (var frame in frames)
        {
            Assert.True(frame.Length <= Limit || frame.Kind == FrameKind.Close, $"seed {seed}: a {frame.Length}-byte frame passed the {Limit}-byte limit");
            if (frame.Kind == FrameKind.Text)
            {
                Assert.True(Utf8.IsValid(frame.Payload.Span), $"seed {seed}: invalid UTF-8 was delivered");
            }

            Assert.True(frame.IsLeased == (leased && frame.IsData && frame.Length > 0), $"seed {seed}: a {frame.Kind} frame's lease state");
            frame.Release(); // lease mode: back to the pool; owned: a no-op
        }

        if (error is null)
        {
            Assert.Equal(FrameKind.Close, frames[^1].Kind);
            return "PeerClose";
        }

        var sentClose = harness.SentCloseCode();
        switch (error.Kind)
        {
            case TransportErrorKind.Protocol:
                Assert.True(error.CloseCode is CloseCodes.ProtocolError or CloseCodes.InvalidPayload, $"seed {seed}: close code {error.CloseCode}");
                Assert.True(sentClose == error.CloseCode, $"seed {seed}: failed with {error.CloseCode} but sent {sentClose}");
                break;
            case TransportErrorKind.MessageTooBig:
                Assert.True(sentClose == CloseCodes.MessageTooBig, $"seed {seed}: sent {sentClose} for MessageTooBig");
                break;
            case TransportErrorKind.Connection:
                Assert.Equal(CloseCodes.Abnormal, error.CloseCode); // truncated: the stream ended without a close
                break;
            default:
                Assert.Fail($"seed {seed}: unexpected {error}");
                break;
        }

        return $"{error.Kind}/{error.CloseCode}";
    }

    // A plausible server stream: messages (some fragmented, some compressed, some big), control
    // frames in between, maybe a close at the end.
    private static byte[] ValidStream(Random random, bool deflate)
    {
        var parts = new List<byte[]>();
        var messages = random.Next(1, 8);
        for (var m = 0; m < messages; m++)
        {
            var text = random.Next(2) == 0;
            var length = random.Next(10) == 0 ? random.Next(Limit - 100, Limit * 2) : random.Next(0, 300);
            var payload = text ? RandomText(random, length) : RandomBytes(random, length);
            var compress = deflate && random.Next(2) == 0;
            var wire = compress ? Deflate(payload) : payload;
            var fragments = random.Next(1, 4);
            var chunk = Math.Max(1, (wire.Length + fragments - 1) / fragments);
            var offset = 0;
            var first = true;
            do
            {
                var n = Math.Min(chunk, wire.Length - offset);
                var fin = offset + n >= wire.Length;
                parts.Add(ServerFrame(first ? (text ? 1 : 2) : 0, fin, wire.AsSpan(offset, n), rsv: first && compress ? 4 : 0));
                offset += n;
                first = false;
                if (!fin && random.Next(3) == 0)
                {
                    parts.Add(ServerFrame(random.Next(2) == 0 ? 9 : 10, true, RandomBytes(random, random.Next(0, 126))));
                }
            }
            while (offset < wire.Length);
        }

        if (random.Next(2) == 0)
        {
            parts.Add(ServerFrame(8, true, [0x03, 0xE8, (byte)'o', (byte)'k']));
        }

        return Concat([.. parts]);
    }

    private static byte[] Mutate(byte[] stream, Random random)
    {
        var bytes = stream.ToList();
        switch (random.Next(9))
        {
            case 0: // flip bits anywhere
                for (var i = random.Next(1, 6); i > 0 && bytes.Count > 0; i--)
                {
                    bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                }

                break;
            case 1: // truncate
                var keep = random.Next(bytes.Count);
                bytes.RemoveRange(keep, bytes.Count - keep);
                break;
            case 2: // garbage inserted
                bytes.InsertRange(random.Next(bytes.Count + 1), RandomBytes(random, random.Next(1, 20)));
                break;
            case 3: // a reserved opcode or reserved bits
                bytes.InsertRange(0, ServerFrame(random.Next(3, 8) + (random.Next(2) * 8), true, [1], rsv: random.Next(8)));
                break;
            case 4: // a control frame over 125 bytes, or fragmented
                bytes.InsertRange(0, ServerFrame(9, random.Next(2) == 0, new byte[random.Next(100, 300)]));
                break;
            case 5: // a length that lies (huge or 64-bit with the top bit)
                bytes.InsertRange(0, ServerFrame(2, true, new byte[10], declaredLength: random.Next(2) == 0 ? long.MaxValue : 1L << random.Next(16, 62)));
                break;
            case 6: // invalid UTF-8 in text
                bytes.InsertRange(0, ServerFrame(1, true, [(byte)'a', 0xC3, 0x28]));
                break;
            case 7: // a continuation with nothing to continue / data inside a message
                bytes.InsertRange(0, ServerFrame(random.Next(2) == 0 ? 0 : 1, random.Next(2) == 0, [1, 2, 3]));
                if (random.Next(2) == 0)
                {
                    bytes.InsertRange(bytes.Count > 5 ? 5 : 0, ServerFrame(2, true, [9]));
                }

                break;
            default: // unmodified: must parse cleanly
                break;
        }

        return [.. bytes];
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] RandomText(Random random, int length)
    {
        const string alphabet = "abcxyz0123 €✓é𝄞";
        var sb = new StringBuilder(length);
        var bytes = 0;
        while (bytes < length)
        {
            var i = random.Next(alphabet.Length);
            if (char.IsHighSurrogate(alphabet[i]))
            {
                sb.Append(alphabet, i, 2);
                bytes += 4;
            }
            else if (!char.IsLowSurrogate(alphabet[i]))
            {
                sb.Append(alphabet[i]);
                bytes += Encoding.UTF8.GetByteCount(alphabet.AsSpan(i, 1));
            }
        }

        return Encoding.UTF8.GetBytes(sb.ToString());
    }
}

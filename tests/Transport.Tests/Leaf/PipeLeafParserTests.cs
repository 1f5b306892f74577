using System.Text;
using Transport.WebSockets;
using Transport.WebSockets.Pipelines;
using static Transport.Tests.Leaf.PipeLeafHarness;

namespace Transport.Tests.Leaf;

/// <summary>The Pipelines leaf's parser, fed through a Pipe: one rule of RFC 6455 / 7692 per test.</summary>
public sealed class PipeLeafParserTests
{
    [Fact]
    [Trait("Invariant", "PipeLeaf.R1")]
    public async Task Every_whole_frame_of_one_read_is_handed_over_by_TryReceive()
    {
        var harness = new PipeLeafHarness();
        harness.Feed(Concat(ServerFrame(1, true, "a"u8), ServerFrame(2, true, [1, 2]), ServerFrame(1, true, "c"u8)), complete: false);

        var first = await harness.Reader.ReceiveAsync(CancellationToken.None);
        Assert.True(harness.Reader.TryReceive(out var second));
        Assert.True(harness.Reader.TryReceive(out var third));
        Assert.False(harness.Reader.TryReceive(out _));

        Assert.Equal(Frame.Text("a"), first);
        Assert.Equal(Frame.Binary(new byte[] { 1, 2 }), second);
        Assert.Equal(Frame.Text("c"), third);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R1")]
    public async Task A_frame_split_across_reads_is_completed_by_the_next_read()
    {
        var harness = new PipeLeafHarness();
        var frame = ServerFrame(2, true, new byte[300]);
        harness.Feed(frame.AsSpan(0, 3), complete: false);

        var pending = harness.Reader.ReceiveAsync(CancellationToken.None);
        Assert.False(pending.IsCompleted);
        harness.Feed(frame.AsSpan(3));

        Assert.Equal(300, (await pending).Length);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R5")]
    public void Pings_between_fragments_are_surfaced_without_disturbing_the_message()
    {
        var harness = new PipeLeafHarness();
        harness.Feed(Concat(ServerFrame(1, false, "hel"u8), ServerFrame(9, true, [5]), ServerFrame(0, false, "lo "u8), ServerFrame(10, true, []), ServerFrame(0, true, "✓"u8)));

        var (frames, error) = harness.Drain();

        Assert.IsType<TransportException>(error); // end of stream without a close
        Assert.Equal([Frame.Ping(new byte[] { 5 }), Frame.Pong(), Frame.Text("hello ✓")], frames);
    }

    [Theory]
    [Trait("Invariant", "PipeLeaf.R4")]
    [InlineData("reserved opcode", 0x3, true, 0, 1)]
    [InlineData("reserved control opcode", 0xB, true, 0, 1)]
    [InlineData("reserved bit without deflate", 0x2, true, 4, 1)]
    [InlineData("rsv2", 0x2, true, 2, 1)]
    [InlineData("fragmented ping", 0x9, false, 0, 1)]
    [InlineData("ping over 125 bytes", 0x9, true, 0, 126)]
    [InlineData("continuation without message", 0x0, true, 0, 1)]
    public void Protocol_violations_close_with_1002_and_fail_with_Protocol(string what, int opcode, bool fin, int rsv, int length)
    {
        var harness = new PipeLeafHarness();
        harness.Feed(ServerFrame(opcode, fin, new byte[length], rsv));

        var (frames, error) = harness.Drain();

        Assert.Empty(frames);
        Assert.NotNull(error);
        Assert.True(error.Kind == TransportErrorKind.Protocol, what);
        Assert.Equal(CloseCodes.ProtocolError, error.CloseCode);
        Assert.Equal(CloseCodes.ProtocolError, harness.SentCloseCode());
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R4")]
    public void A_masked_server_frame_and_a_new_message_inside_a_message_are_violations()
    {
        var masked = new PipeLeafHarness();
        masked.Feed(ServerFrame(1, true, "x"u8, masked: true));
        Assert.Equal(CloseCodes.ProtocolError, masked.Drain().Error?.CloseCode);

        var interleaved = new PipeLeafHarness();
        interleaved.Feed(Concat(ServerFrame(1, false, "a"u8), ServerFrame(2, true, [1])));
        Assert.Equal(CloseCodes.ProtocolError, interleaved.Drain().Error?.CloseCode);
        Assert.Equal(CloseCodes.ProtocolError, interleaved.SentCloseCode());
    }

    [Theory]
    [Trait("Invariant", "PipeLeaf.R6")]
    [InlineData(new byte[] { 0x03 }, CloseCodes.ProtocolError)] // 1-byte close payload
    [InlineData(new byte[] { 0x03, 0xED }, CloseCodes.ProtocolError)] // 1005 on the wire
    [InlineData(new byte[] { 0x03, 0xE8, 0xC3, 0x28 }, CloseCodes.InvalidPayload)] // reason not UTF-8
    public void A_malformed_close_is_a_violation(byte[] payload, int expected)
    {
        var harness = new PipeLeafHarness();
        harness.Feed(ServerFrame(8, true, payload));

        var (_, error) = harness.Drain();

        Assert.Equal(TransportErrorKind.Protocol, error?.Kind);
        Assert.Equal(expected, error?.CloseCode);
        Assert.Equal(expected, harness.SentCloseCode());
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R6")]
    public async Task A_peer_close_is_returned_echoed_then_ClosedByPeer()
    {
        var harness = new PipeLeafHarness();
        harness.Feed(ServerFrame(8, true, [0x0F, 0xA1, (byte)'b', (byte)'y', (byte)'e']), complete: false);

        var close = await harness.Reader.ReceiveAsync(CancellationToken.None);
        var after = await Assert.ThrowsAsync<TransportException>(async () => await harness.Reader.ReceiveAsync(CancellationToken.None));

        Assert.Equal(Frame.Close(4001, "bye"), close);
        Assert.Equal(4001, harness.SentCloseCode());
        Assert.Equal(TransportErrorKind.ClosedByPeer, after.Kind);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R3")]
    public async Task Invalid_utf8_fails_at_the_fragment_that_carries_it_before_the_message_ends()
    {
        var harness = new PipeLeafHarness();

        // The second fragment has an invalid byte; the message never ends (no FIN, stream kept open).
        harness.Feed(Concat(ServerFrame(1, false, "ok €"u8), ServerFrame(0, false, [0xFF])), complete: false);

        var error = await Assert.ThrowsAsync<TransportException>(() => harness.Reader.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(CloseCodes.InvalidPayload, error.CloseCode);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R3")]
    public void A_character_split_across_fragments_is_valid()
    {
        var euro = "€"u8.ToArray();
        var harness = new PipeLeafHarness();
        harness.Feed(Concat(ServerFrame(1, false, euro.AsSpan(0, 1)), ServerFrame(0, false, euro.AsSpan(1, 1)), ServerFrame(0, true, euro.AsSpan(2))));

        Assert.Equal("€", harness.Drain().Frames.Single().GetText());
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R2")]
    public void A_declared_length_past_the_limit_is_refused_at_the_header_without_allocating_it()
    {
        var harness = new PipeLeafHarness(maxMessageBytes: 64 * 1024);
        var header = ServerFrame(2, true, [], declaredLength: 1L << 40);

        var before = GC.GetAllocatedBytesForCurrentThread();
        harness.Feed(header);
        var (_, error) = harness.Drain();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(TransportErrorKind.MessageTooBig, error?.Kind);
        Assert.Equal(CloseCodes.MessageTooBig, harness.SentCloseCode());
        Assert.True(allocated < 16 * 1024, $"allocated {allocated} bytes");
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R2")]
    public void A_compressed_message_that_inflates_far_past_the_limit_fails_1009_allocating_at_most_the_limit()
    {
        const int limit = 64 * 1024;
        var bomb = Deflate(new byte[50_000_000]); // ~50 KB that inflate to 50 MB
        var harness = new PipeLeafHarness(maxMessageBytes: limit, deflate: true);
        var frame = ServerFrame(2, true, bomb, rsv: 4);

        var before = GC.GetAllocatedBytesForCurrentThread();
        harness.Feed(frame);
        var (_, error) = harness.Drain();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(TransportErrorKind.MessageTooBig, error?.Kind);
        Assert.Equal(CloseCodes.MessageTooBig, harness.SentCloseCode());
        Assert.True(allocated < 2 * limit + bomb.Length + 64 * 1024, $"allocated {allocated} bytes for a {bomb.Length}-byte bomb under a {limit}-byte limit");
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R1")]
    public void Compressed_messages_inflate_across_fragments_and_keep_context_between_messages()
    {
        // One deflate context across two messages, as a server with context takeover sends them.
        using var output = new MemoryStream();
        using var deflate = new System.IO.Compression.DeflateStream(output, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true);
        var random = new Random(11);
        var text = Encoding.UTF8.GetBytes(new string(Enumerable.Range(0, 2000).Select(_ => (char)('a' + random.Next(26))).ToArray()));
        deflate.Write(text);
        deflate.Flush();
        var first = output.ToArray()[..^4];
        var mark = output.Length;
        deflate.Write(text);
        deflate.Flush();
        var second = output.ToArray()[(int)mark..^4];
        var harness = new PipeLeafHarness(deflate: true);

        harness.Feed(Concat(
            ServerFrame(1, false, first.AsSpan(0, 5), rsv: 4),
            ServerFrame(0, true, first.AsSpan(5)),
            ServerFrame(1, true, second, rsv: 4)));
        var frames = harness.Drain().Frames;

        Assert.Equal(2, frames.Count);
        Assert.All(frames, f => Assert.Equal(text, f.Payload.ToArray()));
        Assert.True(second.Length < first.Length / 4, "the second message refers back to the first");
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R4")]
    public void Invalid_deflate_data_closes_with_1007()
    {
        var harness = new PipeLeafHarness(deflate: true);
        harness.Feed(ServerFrame(2, true, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF], rsv: 4));

        var (_, error) = harness.Drain();

        Assert.Equal(CloseCodes.InvalidPayload, error?.CloseCode);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R7")]
    public void Frames_are_stamped_with_the_clock()
    {
        var clock = new Transport.Mock.ManualTimeProvider();
        clock.Advance(TimeSpan.FromSeconds(3));
        var harness = new PipeLeafHarness(time: clock);
        harness.Feed(ServerFrame(1, true, "t"u8));

        Assert.Equal(clock.GetTimestamp(), harness.Drain().Frames.Single().ReceivedAt);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R7")]
    public async Task Frames_of_one_read_carry_that_reads_time_and_a_frame_completed_later_the_later_reads()
    {
        var clock = new Transport.Mock.ManualTimeProvider();
        clock.Advance(TimeSpan.FromSeconds(3));
        var harness = new PipeLeafHarness(time: clock);
        var third = ServerFrame(2, true, new byte[50]);
        harness.Feed(Concat(ServerFrame(1, true, "a"u8), ServerFrame(1, true, "b"u8), third.AsSpan(0, 10).ToArray()), complete: false);

        var first = await harness.Reader.ReceiveAsync(CancellationToken.None);
        long readAt = clock.GetTimestamp();
        clock.Advance(TimeSpan.FromMilliseconds(5)); // parsing later does not make the bytes arrive later
        Assert.True(harness.Reader.TryReceive(out var second));
        Assert.False(harness.Reader.TryReceive(out _));
        var pending = harness.Reader.ReceiveAsync(CancellationToken.None);
        clock.Advance(TimeSpan.FromMilliseconds(7));
        harness.Feed(third.AsSpan(10));
        var last = await pending;

        Assert.Equal(readAt, first.ReceivedAt);
        Assert.Equal(readAt, second.ReceivedAt);
        Assert.Equal(clock.GetTimestamp(), last.ReceivedAt);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.W1")]
    public async Task Sent_frames_are_masked_and_unmask_to_the_payload()
    {
        var harness = new PipeLeafHarness();
        var payload = new byte[100_000];
        new Random(3).NextBytes(payload);

        await harness.Writer.SendAsync(Frame.Binary(payload), CancellationToken.None);
        await harness.Writer.SendAsync(Frame.Text("hi"), CancellationToken.None);
        await harness.Writer.CloseAsync(1000, "done", CancellationToken.None);
        await harness.Writer.SendAsync(Frame.Pong(), CancellationToken.None).AsTask().ContinueWith(_ => { });

        var sent = harness.Sent();
        Assert.Equal(3, sent.Count); // nothing after our close (W2)
        Assert.Equal(payload, sent[0].Payload);
        Assert.Equal("hi"u8.ToArray(), sent[1].Payload);
        Assert.Equal(8, sent[2].Opcode);
    }

    [Theory]
    [Trait("Invariant", "PipeLeaf.W1")]
    [InlineData(0, 0)]
    [InlineData(1, 3)]
    [InlineData(7, 1)]
    [InlineData(33, 2)]
    [InlineData(1000, 0)]
    [InlineData(4099, 3)]
    public void Vectorised_masking_equals_the_definition(int length, int offset)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        const int key = unchecked((int)0xA1B2C3D4);
        var keyBytes = BitConverter.GetBytes(key); // little-endian: the wire order Masking expects
        var expected = data.Select((b, i) => (byte)(b ^ keyBytes[(i + offset) & 3])).ToArray();
        var actual = new byte[length];

        Masking.Apply(data, actual, key, offset);

        Assert.Equal(expected, actual);
    }

    [Theory]
    [Trait("Invariant", "PipeLeaf.R3")]
    [InlineData(new byte[] { 0xE0, 0x80 }, false)] // overlong prefix
    [InlineData(new byte[] { 0xED, 0xA0 }, false)] // surrogate prefix
    [InlineData(new byte[] { 0xF4, 0x90 }, false)] // above U+10FFFF
    [InlineData(new byte[] { 0xC0 }, false)]
    [InlineData(new byte[] { 0xE2, 0x82 }, true)] // "€" incomplete
    [InlineData(new byte[] { 0xF0, 0x9F, 0x98 }, true)] // emoji incomplete
    public void Incomplete_characters_are_judged_as_prefixes(byte[] tail, bool possible)
    {
        var validator = default(Utf8Validator);

        Assert.Equal(possible, validator.Append(Concat("ok"u8.ToArray(), tail)));
        if (possible)
        {
            Assert.False(validator.AtBoundary, "an incomplete character is carried: the message may not end here");
        }
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R3")]
    public void Every_split_of_valid_text_into_pieces_validates_and_every_corruption_fails()
    {
        var text = "a€😀ü✓"u8.ToArray();
        for (var first = 0; first <= text.Length; first++)
        {
            for (var second = first; second <= text.Length; second++)
            {
                var validator = default(Utf8Validator);
                Assert.True(validator.Append(text.AsSpan(0, first)), $"split {first}/{second}");
                Assert.True(validator.Append(text.AsSpan(first, second - first)), $"split {first}/{second}");
                Assert.True(validator.Append(text.AsSpan(second)), $"split {first}/{second}");
                Assert.True(validator.AtBoundary);
            }
        }

        for (var i = 1; i < text.Length; i++)
        {
            var corrupt = (byte[])text.Clone();
            corrupt[i] = 0xFF;
            var validator = default(Utf8Validator);
            var ok = validator.Append(corrupt.AsSpan(0, i)) && validator.Append(corrupt.AsSpan(i, 1)) && validator.Append(corrupt.AsSpan(i + 1));
            Assert.False(ok && validator.AtBoundary, $"0xFF at {i} must fail");
        }
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R8")]
    public void A_ping_declaring_2_pow_32_plus_3_bytes_closes_1002_and_is_never_read_as_a_3_byte_ping()
    {
        // The defect (issue 26, item 3): (int)(2^32 + 3) == 3, so the ping was accepted as 3 bytes and
        // the parser read the next frame out of the middle of its "payload".
        var harness = new PipeLeafHarness();
        harness.Feed(Concat(ServerFrame(9, true, [1, 2, 3], declaredLength: (1L << 32) + 3), ServerFrame(1, true, "after"u8)));

        var (frames, error) = harness.Drain();

        Assert.Empty(frames);
        Assert.Equal(TransportErrorKind.Protocol, error?.Kind);
        Assert.Equal(CloseCodes.ProtocolError, error?.CloseCode);
        Assert.Equal(CloseCodes.ProtocolError, harness.SentCloseCode());
    }

    [Theory]
    [Trait("Invariant", "PipeLeaf.R8")]
    [InlineData(8, 126L)] // close, 16-bit length form
    [InlineData(10, 65_536L)] // pong, 64-bit length form
    [InlineData(9, (1L << 31) + 5)] // would be negative as an int
    [InlineData(9, long.MaxValue)]
    public void A_control_frame_declaring_more_than_125_bytes_closes_1002_whatever_its_length_form(int opcode, long declared)
    {
        var harness = new PipeLeafHarness();
        harness.Feed(ServerFrame(opcode, true, [0x03, 0xE8], declaredLength: declared));

        var (frames, error) = harness.Drain();

        Assert.Empty(frames);
        Assert.Equal(CloseCodes.ProtocolError, error?.CloseCode);
    }
}

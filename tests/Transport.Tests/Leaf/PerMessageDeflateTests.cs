using System.IO.Compression;
using System.Text;
using Transport.WebSockets.Pipelines;
using static Transport.Tests.Leaf.PipeLeafHarness;

namespace Transport.Tests.Leaf;

/// <summary>permessage-deflate on the Pipelines leaf: final (BFINAL=1) blocks, context takeover, RFC 7692's own examples.</summary>
public sealed class PerMessageDeflateTests
{
    private static readonly byte[] First = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("bid 101.25 ask 101.27 ", 40)));
    private static readonly byte[] Second = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("trade 101.26 x 3 ", 30)));
    private static readonly byte[] Third = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("bid 101.26 ask 101.28 ", 30)));

    [Theory]
    [Trait("Invariant", "Deflate.I1")]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(false, false)]
    public void A_message_ending_with_a_final_block_does_not_empty_every_later_message(bool contextTakeover, bool withEmptyStoredBlock)
    {
        // Issue 26, item 1: the inflater finished at the final block and every later message inflated to nothing.
        var harness = new PipeLeafHarness(deflate: true, serverContextTakeover: contextTakeover);
        var sender = new SyncFlushCompressor();
        var third = contextTakeover ? sender : new SyncFlushCompressor(); // server_no_context_takeover: no back-references between messages
        harness.Feed(Concat(
            ServerFrame(1, true, FinalBlock(First, withEmptyStoredBlock), rsv: 4),
            ServerFrame(1, true, sender.Compress(Second), rsv: 4),
            ServerFrame(1, true, third.Compress(Third), rsv: 4)));

        var (frames, error) = harness.Drain();

        Assert.IsType<TransportException>(error); // end of stream without a close, after the three messages
        Assert.Equal(CloseCodes.Abnormal, error.CloseCode);
        Assert.Equal([First, Second, Third], frames.Select(f => f.Payload.ToArray()));
        Assert.Equal(1, harness.Inflater!.FinalBlocks);
    }

    [Fact]
    [Trait("Invariant", "Deflate.I1")]
    public void Rfc7692_section_7_2_3_4_final_block_example_then_a_sync_flushed_message()
    {
        var harness = new PipeLeafHarness(deflate: true);
        harness.Feed(Concat(
            [0xC1, 0x08, 0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00], // "Hello", BFINAL=1, then the 0x00 octet
            [0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])); // "Hello" (7.2.3.1)

        Assert.Equal(["Hello", "Hello"], harness.Drain().Frames.Select(f => f.GetText()));
    }

    [Theory]
    [Trait("Invariant", "Deflate.I1")]
    [InlineData(new byte[] { 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00 }, "Hello")] // 7.2.3.1
    [InlineData(new byte[] { 0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00 }, "Hello")] // 7.2.3.3 stored block
    [InlineData(new byte[] { 0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xCA, 0xC9, 0xC9, 0x07, 0x00 }, "Hello")] // 7.2.3.5 two blocks
    [InlineData(new byte[] { 0x00 }, "")] // 7.2.3.6 empty
    public void Rfc7692_examples_inflate(byte[] payload, string expected)
    {
        var harness = new PipeLeafHarness(deflate: true);
        harness.Feed(Concat(ServerFrame(1, true, payload, rsv: 4), ServerFrame(1, true, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], rsv: 4)));

        Assert.Equal([expected, "Hello"], harness.Drain().Frames.Select(f => f.GetText()));
    }

    [Fact]
    [Trait("Invariant", "Deflate.I2")]
    public void A_message_after_a_final_block_may_refer_back_to_the_output_before_it()
    {
        // The sender keeps its window across the final block (RFC 7692 7.2.3.2: the window belongs to
        // the connection): the second message is compressed by a compressor that saw the first.
        var windowed = new SyncFlushCompressor();
        windowed.Compress(First);
        var referring = windowed.Compress(First); // a few bytes: a back-reference into the first message
        var harness = new PipeLeafHarness(deflate: true);
        harness.Feed(Concat(ServerFrame(2, true, FinalBlock(First, true), rsv: 4), ServerFrame(2, true, referring, rsv: 4)));

        var frames = harness.Drain().Frames;

        Assert.True(referring.Length < First.Length / 8, "the second message is a back-reference");
        Assert.Equal([First, First], frames.Select(f => f.Payload.ToArray()));
    }

    [Fact]
    [Trait("Invariant", "Deflate.I1")]
    public void A_final_block_that_ends_a_fragment_is_continued_by_the_next_fragment()
    {
        var continuation = new SyncFlushCompressor().Compress(Second);
        var harness = new PipeLeafHarness(deflate: true);
        harness.Feed(Concat(
            ServerFrame(1, false, FinalBlock(First, false), rsv: 4),
            ServerFrame(0, true, continuation),
            ServerFrame(1, true, new SyncFlushCompressor().Compress(Third), rsv: 4)));

        var frames = harness.Drain().Frames;

        Assert.Equal([[.. First, .. Second], Third], frames.Select(f => f.Payload.ToArray()));
    }

    [Fact]
    [Trait("Invariant", "Deflate.I3")]
    public void Data_continuing_after_a_final_block_inside_one_frame_fails_with_1003_and_is_not_dropped()
    {
        var harness = new PipeLeafHarness(deflate: true);
        harness.Feed(ServerFrame(1, true, Concat(FinalBlock(First, false), new SyncFlushCompressor().Compress(Second)), rsv: 4));

        var (frames, error) = harness.Drain();

        Assert.Empty(frames);
        Assert.Equal(TransportErrorKind.Protocol, error?.Kind);
        Assert.Equal(CloseCodes.UnsupportedData, error?.CloseCode);
        Assert.Contains("BFINAL", error!.Message, StringComparison.Ordinal);
        Assert.Equal(CloseCodes.UnsupportedData, harness.SentCloseCode());
    }

    [Fact]
    [Trait("Invariant", "Deflate.I1")]
    public void A_compressed_frame_with_an_empty_payload_is_an_empty_message_and_leaves_the_stream_intact()
    {
        var sender = new SyncFlushCompressor();
        var harness = new PipeLeafHarness(deflate: true);
        harness.Feed(Concat(ServerFrame(1, true, sender.Compress(First), rsv: 4), ServerFrame(1, true, [], rsv: 4), ServerFrame(1, true, sender.Compress(Second), rsv: 4)));

        Assert.Equal([First, [], Second], harness.Drain().Frames.Select(f => f.Payload.ToArray()));
    }

    [Theory]
    [Trait("Invariant", "Deflate.I4")]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void Without_context_takeover_a_message_that_leaves_a_block_unfinished_cannot_turn_the_next_into_garbage(bool contextTakeover, bool nextIntact)
    {
        // Found by the differential run (seed 186647791474889781, case 39745): one flipped bit makes this
        // message end with the header of a final stored block whose length runs into the 4-byte tail, so
        // the stream is left inside that block. A shared inflater then read the next message as the
        // block's raw bytes; with server_no_context_takeover each message is its own stream.
        var corrupt = Convert.FromHexString("6260E7139551D632B4B077F30D894ECA2C28AF6BED993C6BE18AF5DBF61E397DE9E683E7B855004457150001");
        var harness = new PipeLeafHarness(deflate: true, serverContextTakeover: contextTakeover);
        harness.Feed(Concat(ServerFrame(2, true, corrupt, rsv: 4), ServerFrame(1, true, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], rsv: 4)));

        var (frames, _) = harness.Drain();

        Assert.Equal(169, frames[0].Length);
        Assert.Equal(nextIntact, frames.Count == 2 && frames[1].Kind == FrameKind.Text && frames[1].GetText() == "Hello");
    }

    /// <summary>A message compressed as one finished deflate stream (its last block has BFINAL=1), as RFC 7692 7.2.1 describes it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="withEmptyStoredBlock">Append the empty stored block and strip its 4-byte tail (leaving 0x00), as 7.2.1 says; false: the bare finished stream.</param>
    internal static byte[] FinalBlock(byte[] message, bool withEmptyStoredBlock)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(message);
        }

        return withEmptyStoredBlock ? [.. output.ToArray(), 0x00] : output.ToArray();
    }

    /// <summary>A sender with context takeover: one compressor, each message sync-flushed and its 00 00 FF FF stripped.</summary>
    internal sealed class SyncFlushCompressor
    {
        private readonly MemoryStream _output = new();
        private readonly DeflateStream _deflate;

        public SyncFlushCompressor() => _deflate = new DeflateStream(_output, CompressionLevel.Optimal, leaveOpen: true);

        public byte[] Compress(byte[] message)
        {
            _output.SetLength(0);
            _deflate.Write(message);
            _deflate.Flush();
            return _output.ToArray()[..^4];
        }
    }
}

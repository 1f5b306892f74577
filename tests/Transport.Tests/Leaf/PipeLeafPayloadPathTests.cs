using System.Text;
using Transport.WebSockets;
using Transport.WebSockets.Buffering;
using static Transport.Tests.Leaf.PipeLeafHarness;

namespace Transport.Tests.Leaf;

/// <summary>The Pipelines leaf's payload paths: single-frame and reassembled messages, text straddling read segments, steady-state lease allocation (written beside PipeLeafLeaseTests by the bench work).</summary>
public sealed class PipeLeafPayloadPathTests
{
    [Fact]
    [Trait("Invariant", "PipeLeaf.R1")]
    public void Lease_mode_hands_out_leased_frames_for_single_frame_and_reassembled_messages()
    {
        var harness = new PipeLeafHarness(payloads: PayloadAllocator.Leased);
        harness.Feed(Concat(
            ServerFrame(1, true, "single"u8),
            ServerFrame(2, true, [1, 2, 3]),
            ServerFrame(1, false, "frag"u8),
            ServerFrame(0, true, "mented ✓"u8),
            ServerFrame(1, true, []),
            ServerFrame(8, true, [0x03, 0xE8])));

        var (frames, error) = harness.Drain();

        Assert.Null(error);
        Assert.Equal([Frame.Text("single"), Frame.Binary(new byte[] { 1, 2, 3 }), Frame.Text("fragmented ✓"), Frame.Text(string.Empty), Frame.Close(1000)], frames);
        Assert.True(frames[0].IsLeased);
        Assert.True(frames[1].IsLeased);
        Assert.True(frames[2].IsLeased);
        Assert.False(frames[3].IsLeased); // an empty payload is never leased
        foreach (var frame in frames)
        {
            frame.Release();
        }

        Assert.Throws<InvalidOperationException>(() => frames[0].Release());
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R1")]
    public void Owned_mode_is_the_default()
    {
        var harness = new PipeLeafHarness();
        harness.Feed(Concat(ServerFrame(1, true, "a"u8), ServerFrame(1, false, "b"u8), ServerFrame(0, true, "c"u8)));

        var (frames, _) = harness.Drain();

        Assert.Equal([Frame.Text("a"), Frame.Text("bc")], frames);
        Assert.All(frames, f => Assert.False(f.IsLeased));
    }

    [Theory]
    [Trait("Invariant", "PipeLeaf.R3")]
    [InlineData(4000)]
    [InlineData(4050)]
    [InlineData(4090)]
    public void Text_straddling_the_read_buffers_segments_is_validated_and_delivered_whole(int fillerBytes)
    {
        // The pipe's segments are 4 KiB: a filler frame puts the text frame (and its 3-byte characters)
        // across a segment boundary, which the fast path leaves to the reassembly path.
        var harness = new PipeLeafHarness(payloads: PayloadAllocator.Leased);
        var text = string.Concat(Enumerable.Repeat("€uro ", 40));
        harness.Feed(ServerFrame(2, true, new byte[fillerBytes]), complete: false);
        harness.Feed(ServerFrame(1, true, Encoding.UTF8.GetBytes(text)));

        var (frames, error) = harness.Drain();

        Assert.IsType<TransportException>(error); // end of stream without a close
        Assert.Equal(2, frames.Count);
        Assert.Equal(text, frames[1].GetText());
        Assert.True(frames[1].IsLeased);
    }

    [Theory]
    [Trait("Invariant", "PipeLeaf.R3")]
    [InlineData(4000)]
    [InlineData(4090)]
    public void Invalid_text_straddling_segments_closes_with_1007(int fillerBytes)
    {
        var harness = new PipeLeafHarness(payloads: PayloadAllocator.Leased);
        var bad = Encoding.UTF8.GetBytes(new string('a', 150)).Concat(new byte[] { 0xC3, 0x28 }).ToArray();
        harness.Feed(ServerFrame(2, true, new byte[fillerBytes]), complete: false);
        harness.Feed(ServerFrame(1, true, bad));

        var (frames, error) = harness.Drain();

        Assert.Single(frames);
        Assert.NotNull(error);
        Assert.Equal(TransportErrorKind.Protocol, error.Kind);
        Assert.Equal(CloseCodes.InvalidPayload, harness.SentCloseCode());
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R1")]
    public void Lease_mode_parses_100_byte_messages_without_allocating_in_steady_state()
    {
        var harness = new PipeLeafHarness(payloads: PayloadAllocator.Leased);
        var message = ServerFrame(1, true, Encoding.ASCII.GetBytes(new string('x', 100)));
        var many = Concat(Enumerable.Repeat(message, 2_000).ToArray());
        harness.Feed(many, complete: false);

        // Warm-up: the lease pool and the parser's first read.
        for (var i = 0; i < 200; i++)
        {
            harness.ReceiveNow().Release();
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            var frame = harness.Reader.TryReceive(out var next) ? next : harness.ReceiveNow();
            frame.Release();
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 8 * 1_000, $"{allocated} B for 1,000 leased messages (issue 14: < 8 B per message)");
    }
}

using System.Text;
using Transport.WebSockets;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Pipelines;
using static Transport.Tests.Leaf.PipeLeafHarness;

namespace Transport.Tests.Leaf;

/// <summary>
/// Lease mode in the Pipelines leaf (issue 14 item 4, ADR 0009): received payloads come from the pooled
/// allocator, so a consumer that releases each frame allocates (almost) nothing per message; every
/// payload path (single frame, reassembled fragments, text straddling the read's segments) leases.
/// The harness completes every receive synchronously on the test thread: per-thread counts are exact.
/// </summary>
public sealed class PipeLeafLeaseTests
{
    private const int Messages = 20_000;

    [Theory]
    [InlineData(0x2, false)]
    [InlineData(0x1, false)]
    [InlineData(0x2, true)] // fragmented: through the reassembly buffer
    [Trait("Invariant", "PipeLeaf.R1")]
    public void A_lease_mode_consumer_allocates_under_8_bytes_per_100_byte_message(int opcode, bool fragmented)
    {
        var payload = new byte[100];
        payload.AsSpan().Fill((byte)'a');
        var one = fragmented
            ? PipeLeafHarness.Concat(PipeLeafHarness.ServerFrame(opcode, fin: false, payload.AsSpan(0, 40)), PipeLeafHarness.ServerFrame(0x0, fin: true, payload.AsSpan(40)))
            : PipeLeafHarness.ServerFrame(opcode, fin: true, payload);
        var stream = new byte[one.Length * (Messages + 200)];
        for (var i = 0; i < Messages + 200; i++)
        {
            one.CopyTo(stream, i * one.Length);
        }

        var harness = new PipeLeafHarness(payloads: PayloadAllocator.Leased);
        harness.Feed(stream);
        Consume(harness.Reader, 200); // warm up: JIT, the pool's buckets, the reassembly buffer

        var before = GC.GetAllocatedBytesForCurrentThread();
        Consume(harness.Reader, Messages);
        var perMessage = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Messages;

        Assert.True(perMessage < 8, $"{perMessage:F2} B allocated per message");
    }

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
    public void Owned_mode_stays_the_default_and_hands_over_exact_arrays()
    {
        var harness = new PipeLeafHarness();
        harness.Feed(Concat(ServerFrame(1, true, "a"u8), ServerFrame(1, false, "b"u8), ServerFrame(0, true, "c"u8)));

        var (frames, _) = harness.Drain();

        Assert.Equal([Frame.Text("a"), Frame.Text("bc")], frames);
        Assert.All(frames, f => Assert.False(f.IsLeased));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(frames[1].Payload, out var array));
        Assert.Equal(2, array.Array!.Length); // exact size, not a pooled or reassembly-sized array
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R2")]
    public void Invalid_utf8_is_refused_before_anything_is_leased()
    {
        var harness = new PipeLeafHarness(payloads: PayloadAllocator.Leased);
        harness.Feed(PipeLeafHarness.ServerFrame(0x1, fin: true, [(byte)'o', 0xC3, 0x28]));

        var (frames, error) = harness.Drain();

        Assert.Empty(frames);
        Assert.Equal(TransportErrorKind.Protocol, error?.Kind);
        Assert.Equal(CloseCodes.InvalidPayload, harness.SentCloseCode());
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

    private static void Consume(FrameReader reader, int count)
    {
        var received = 0;
        while (received < count)
        {
            // One awaited receive per read, then the rest of the read without awaiting (the stack's pattern).
            var pending = reader.ReceiveAsync(CancellationToken.None);
            Assert.True(pending.IsCompletedSuccessfully);
            var frame = pending.Result;
            Assert.True(frame.IsLeased);
            frame.Release();
            received++;
            while (received < count && reader.TryReceive(out frame))
            {
                frame.Release();
                received++;
            }
        }
    }
}

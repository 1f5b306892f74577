using Transport.WebSockets.Buffering;
using Transport.WebSockets.Pipelines;

namespace Transport.Tests.Leaf;

/// <summary>
/// Lease mode in the Pipelines leaf (issue 14 item 4, ADR 0009): received payloads come from the pooled
/// allocator, so a consumer that releases each frame allocates (almost) nothing per message. The
/// harness completes every receive synchronously on the test thread: per-thread counts are exact.
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
    public void Owned_mode_stays_the_default_and_hands_over_exact_arrays()
    {
        var harness = new PipeLeafHarness();
        harness.Feed(PipeLeafHarness.ServerFrame(0x2, fin: true, new byte[100]));

        var (frames, _) = harness.Drain();

        Assert.False(Assert.Single(frames).IsLeased);
        Assert.Equal(100, frames[0].Length);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R1")]
    public void Leased_frames_carry_the_bytes_and_release_once()
    {
        var harness = new PipeLeafHarness(payloads: PayloadAllocator.Leased);
        harness.Feed(PipeLeafHarness.Concat(
            PipeLeafHarness.ServerFrame(0x1, fin: true, "hello"u8),
            PipeLeafHarness.ServerFrame(0x2, fin: false, [1, 2]),
            PipeLeafHarness.ServerFrame(0x0, fin: true, [3])));

        var (frames, error) = harness.Drain();

        Assert.IsType<TransportException>(error); // the stream ended without a close
        Assert.Equal(2, frames.Count);
        Assert.All(frames, f => Assert.True(f.IsLeased));
        Assert.Equal("hello", frames[0].GetText());
        Assert.Equal(new byte[] { 1, 2, 3 }, frames[1].Payload.ToArray());
        foreach (var frame in frames)
        {
            frame.Release();
            Assert.Throws<InvalidOperationException>(() => frame.Release());
        }
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

using System.Buffers;
using Transport.WebSockets;
using static Transport.Tests.Leaf.PipeLeafHarness;

namespace Transport.Tests.Leaf;

/// <summary>The segmented reassembly buffer: memory held for one message, pool rounding included.</summary>
public sealed class ReassemblyBufferTests
{
    private const int SixteenMiB = 16 * 1024 * 1024;

    [Fact]
    [Trait("Invariant", "Reassembly.B1")]
    public void A_20_MB_message_in_4_KiB_fragments_rejected_at_the_16_MiB_default_holds_at_most_16_MiB()
    {
        // Issue 26, item 8: a doubling array reached 16 MiB while still holding the 8 MiB one, and with
        // every step before it had allocated 31.9 MiB to reject this message.
        const int fragment = 4096;
        var harness = new PipeLeafHarness(maxMessageBytes: SixteenMiB, receiveBufferBytes: 64 * 1024);
        var payload = new byte[fragment];
        var stream = new ArrayBufferWriter<byte>(SixteenMiB + 64 * 1024);
        for (var sent = 0; sent <= SixteenMiB; sent += fragment) // 4097 fragments: the last one passes the limit
        {
            stream.Write(ServerFrame(sent == 0 ? 2 : 0, false, payload));
        }

        harness.Feed(stream.WrittenSpan);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var (frames, error) = harness.Drain();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Empty(frames);
        Assert.Equal(TransportErrorKind.MessageTooBig, error?.Kind);
        Assert.Equal(CloseCodes.MessageTooBig, harness.SentCloseCode());
        Assert.Equal(SixteenMiB, harness.Reader.ReassemblyPeakBytes); // all 16 MiB arrived, nothing beyond
        Assert.True(allocated <= SixteenMiB + (256 * 1024), $"allocated {allocated:N0} bytes to reject the message (at most 16 MiB of segments, whatever the pool already held)");
    }

    [Theory]
    [Trait("Invariant", "Reassembly.B1")]
    [Trait("Invariant", "Reassembly.B2")]
    [InlineData(16 * 1024, 1_000_001)] // the pool would round 1,000,001 up to 1 MiB
    [InlineData(5_000, 77_777)] // a base that is not a power of two
    [InlineData(64 * 1024, 100)] // a limit below the base
    [InlineData(1, 33)] // remnants under the pool's 16-byte minimum
    public void The_arrays_held_never_total_more_than_the_limit(int baseBytes, int limit)
    {
        var buffer = new ReassemblyBuffer(baseBytes, limit);
        var expected = new byte[limit];
        new Random(limit).NextBytes(expected);
        var random = new Random(baseBytes);
        var written = 0;
        while (!buffer.AtLimit)
        {
            var chunk = Math.Min(random.Next(1, 9000), limit - written);
            buffer.Append(expected.AsSpan(written, chunk));
            written += chunk;
            Assert.True(buffer.HeldBytes <= limit, $"held {buffer.HeldBytes} for {written} bytes under a {limit}-byte limit");
        }

        Assert.True(buffer.GetFree().IsEmpty, "nothing more fits at the limit");
        Assert.Equal(expected, buffer.AsSequence().ToArray()); // B2: in order, nothing lost across segments
        Assert.True(buffer.PeakHeldBytes <= limit);
        buffer.Release();
    }

    [Fact]
    [Trait("Invariant", "Reassembly.B3")]
    public void After_a_message_only_the_first_segment_is_kept()
    {
        var buffer = new ReassemblyBuffer(16 * 1024, SixteenMiB);
        buffer.Append(new byte[3 * 1024 * 1024]);
        Assert.False(buffer.IsSingleSegment);

        buffer.Reset();

        Assert.Equal(16 * 1024, buffer.HeldBytes);
        Assert.True(buffer.IsSingleSegment);
        Assert.Equal(0, buffer.Length);
        buffer.Append("next"u8);
        Assert.Equal("next"u8.ToArray(), buffer.FirstSpan.ToArray());
        buffer.Release();
    }

    [Fact]
    [Trait("Invariant", "Reassembly.B1")]
    public void A_compressed_bomb_holds_at_most_the_limit_while_inflating()
    {
        const int limit = 1_000_001;
        var harness = new PipeLeafHarness(maxMessageBytes: limit, deflate: true);
        harness.Feed(ServerFrame(2, true, Deflate(new byte[20_000_000]), rsv: 4));

        var (_, error) = harness.Drain();

        Assert.Equal(TransportErrorKind.MessageTooBig, error?.Kind);
        Assert.True(harness.Reader.ReassemblyPeakBytes <= limit, $"held {harness.Reader.ReassemblyPeakBytes}");
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace Transport.Tests.Leaf;

/// <summary>The Pipelines leaf's writer: what may and may not follow a frame on the wire.</summary>
public sealed class PipeLeafWriterTests
{
    [Fact]
    [Trait("Invariant", "PipeLeaf.W3")]
    public async Task A_large_write_cut_short_when_the_session_ends_is_never_followed_by_a_close_frame()
    {
        // Issue 26, suspected: the session ends (its write token is cancelled) while a 1 MiB frame is
        // half written, then the session closes politely. A close frame written after the cut-short
        // frame would be read by the peer as the rest of that frame's payload.
        var harness = new PipeLeafHarness(output: new PipeOptions(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024));
        using var sessionEnding = new CancellationTokenSource();

        var writing = harness.Writer.SendAsync(Frame.Binary(new byte[1024 * 1024]), sessionEnding.Token).AsTask();
        Assert.False(writing.IsCompleted, "the peer is not reading: the write waits for room");
        await sessionEnding.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => writing);
        var cutShort = ReadAll(harness.Output);

        await harness.Writer.CloseAsync(CloseCodes.NormalClosure, "shutdown", CancellationToken.None); // what Session.CloseGracefullyAsync does next
        var afterwards = ReadAll(harness.Output);

        Assert.True(cutShort.Length < 14 + 1024 * 1024, "the frame was cut short");
        Assert.Equal(127, cutShort[1] & 0x7F);
        Assert.Equal(1024 * 1024, BinaryPrimitives.ReadInt64BigEndian(cutShort.AsSpan(2)));
        Assert.Empty(afterwards); // nothing after a cut-short frame: no close frame inside its payload
        Assert.Single(harness.AbortReasons, r => r.Contains("cut short", StringComparison.Ordinal)); // the socket is given up instead
        var later = await Assert.ThrowsAsync<TransportException>(async () => await harness.Writer.SendAsync(Frame.Text("next"), CancellationToken.None));
        Assert.Equal(TransportErrorKind.Connection, later.Kind);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.W3")]
    public async Task A_send_cancelled_before_its_frame_started_leaves_the_connection_usable()
    {
        var harness = new PipeLeafHarness();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await harness.Writer.SendAsync(Frame.Text("never"), cancelled.Token));
        await harness.Writer.SendAsync(Frame.Text("next"), CancellationToken.None);
        await harness.Writer.CloseAsync(CloseCodes.NormalClosure, null, CancellationToken.None);

        Assert.Equal([1, 8], harness.Sent().Select(f => f.Opcode));
        Assert.Empty(harness.AbortReasons);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.W4")]
    public async Task A_text_frame_that_is_not_valid_utf8_is_refused_before_a_byte_is_written()
    {
        var harness = new PipeLeafHarness();

        var refused = await Assert.ThrowsAsync<ArgumentException>(async () => await harness.Writer.SendAsync(Frame.Text(new byte[] { 0x61, 0xFF }), CancellationToken.None));
        await harness.Writer.SendAsync(Frame.Text("still usable"), CancellationToken.None);

        Assert.Contains("byte 1", refused.Message, StringComparison.Ordinal);
        Assert.Equal(["still usable"], harness.Sent().Select(f => System.Text.Encoding.UTF8.GetString(f.Payload)));
    }

    private static byte[] ReadAll(PipeReader output)
    {
        if (!output.TryRead(out var result))
        {
            return [];
        }

        var bytes = result.Buffer.ToArray();
        output.AdvanceTo(result.Buffer.End);
        return bytes;
    }
}

using Transport.WebSockets.Pipelines;

namespace Transport.Tests.Leaf;

/// <summary>
/// PipeLeaf.W2: after the reader closed the connection for a failure, the stack's sends (its pong lane
/// answering a ping flood, queued data) fail with that failure's kind, so whichever path reports first,
/// the connection's end is classified the same (found by the fault matrix run over the Pipelines leaf).
/// </summary>
public sealed class PipeLeafCloseCauseTests
{
    [Fact]
    [Trait("Invariant", "PipeLeaf.W2")]
    public async Task Sends_after_a_violation_close_fail_with_Protocol_not_Connection()
    {
        var harness = new PipeLeafHarness();
        harness.Feed(PipeLeafHarness.Concat(
            PipeLeafHarness.ServerFrame(0x9, fin: true, [1]),
            PipeLeafHarness.ServerFrame(0x9, fin: true, new byte[126])));

        var (frames, error) = harness.Drain();

        Assert.Equal(FrameKind.Ping, Assert.Single(frames).Kind);
        Assert.Equal(TransportErrorKind.Protocol, error?.Kind);
        Assert.Equal(CloseCodes.ProtocolError, harness.SentCloseCode());
        var pong = await Assert.ThrowsAsync<TransportException>(() => harness.Writer.SendAsync(Frame.Pong(new byte[] { 1 }), CancellationToken.None).AsTask());
        Assert.Equal(TransportErrorKind.Protocol, pong.Kind);
        Assert.Equal(CloseCodes.ProtocolError, pong.CloseCode);
        var data = await Assert.ThrowsAsync<TransportException>(() => harness.Writer.SendAsync(Frame.Text("late"), CancellationToken.None).AsTask());
        Assert.Equal(TransportErrorKind.Protocol, data.Kind);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.W2")]
    public async Task Sends_after_the_peer_close_was_echoed_fail_with_ClosedByPeer()
    {
        var harness = new PipeLeafHarness();
        harness.Feed(PipeLeafHarness.ServerFrame(0x8, fin: true, [0x03, 0xE9])); // 1001

        var (frames, error) = harness.Drain();

        Assert.Null(error);
        Assert.Equal(FrameKind.Close, Assert.Single(frames).Kind);
        var pong = await Assert.ThrowsAsync<TransportException>(() => harness.Writer.SendAsync(Frame.Pong(new byte[] { 1 }), CancellationToken.None).AsTask());
        Assert.Equal(TransportErrorKind.ClosedByPeer, pong.Kind);
        Assert.Equal(1001, pong.CloseCode);
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.W2")]
    public async Task Sends_after_our_own_close_still_fail_with_Connection()
    {
        var harness = new PipeLeafHarness();

        await harness.Writer.CloseAsync(CloseCodes.NormalClosure, "bye", CancellationToken.None);

        var late = await Assert.ThrowsAsync<TransportException>(() => harness.Writer.SendAsync(Frame.Text("late"), CancellationToken.None).AsTask());
        Assert.Equal(TransportErrorKind.Connection, late.Kind);
    }
}

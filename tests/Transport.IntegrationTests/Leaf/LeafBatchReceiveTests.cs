using Transport.Testing;
using Transport.WebSockets;
using Transport.WebSockets.Buffering;
using static Transport.IntegrationTests.Leaf.LeafTestKit;

namespace Transport.IntegrationTests.Leaf;

/// <summary>
/// R6 of the ClientWebSocket receiver: TryReceive hands over messages ClientWebSocket already holds,
/// and whatever it cannot finish is continued by the next ReceiveAsync. Also lease mode on this leaf.
/// </summary>
public sealed class LeafBatchReceiveTests
{
    [Fact]
    public async Task Receive_then_drain_with_try_receive_yields_every_message_in_order_across_fragments_and_close()
    {
        const int count = 5_000;
        var big = new byte[40_000];
        new Random(7).NextBytes(big);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.FloodAsync(count / 2, 100, text: true);
            await s.SendFragmentedAsync(big, 1000, text: false); // a fragmented message mid-stream
            await s.FloodAsync(count / 2, 100, text: true);
            await s.CloseAsync(CloseCodes.NormalClosure, "done");
        });
        await using var connection = await ConnectAsync(server);
        var receiver = connection.Receiver;
        var texts = new List<int>();
        int binaries = 0, drained = 0;
        Frame last;

        while (true)
        {
            last = await receiver.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Bound);
            if (!Take(last))
            {
                break;
            }

            while (receiver.TryReceive(out var more))
            {
                drained++;
                Assert.True(Take(more), "TryReceive returns data messages only");
            }
        }

        Assert.Equal(FrameKind.Close, last.Kind);
        Assert.Equal(1, binaries);
        Assert.Equal(Enumerable.Range(0, count / 2).Concat(Enumerable.Range(0, count / 2)), texts);
        Assert.True(drained > 0, "a flood of small messages must leave some for TryReceive");

        bool Take(Frame frame)
        {
            switch (frame.Kind)
            {
                case FrameKind.Text:
                    texts.Add(ServerSession.ReadSequence(frame.Payload.Span, text: true));
                    return true;
                case FrameKind.Binary:
                    Assert.True(big.AsSpan().SequenceEqual(frame.Payload.Span));
                    binaries++;
                    return true;
                default:
                    return false;
            }
        }
    }

    [Fact]
    public async Task Lease_mode_delivers_leased_frames_that_release_once()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.FloodAsync(200, 100, text: false);
            await s.WaitForCloseAsync();
        });
        await using var connection = await ConnectAsync(server, new ClientWebSocketConnectorOptions { Payloads = PayloadAllocator.Leased });

        for (var i = 0; i < 200; i++)
        {
            var frame = await connection.ReceiveAsync();
            Assert.True(frame.IsLeased);
            Assert.Equal(i, ServerSession.ReadSequence(frame.Payload.Span, text: false));
            frame.Release();
            Assert.Throws<InvalidOperationException>(() => frame.Release());
        }
    }
}

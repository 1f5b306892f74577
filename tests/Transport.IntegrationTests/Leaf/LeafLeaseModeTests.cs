using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Leaf;

/// <summary>
/// Lease mode end to end over Kestrel, for every built-in leaf: <c>WithLeasedPayloads()</c> reaches the
/// leaf the options chose, every data frame the consumer reads is a lease, in order, and releases once.
/// (The per-message allocation is measured exactly, per thread, in PipeLeafLeaseTests.)
/// </summary>
public sealed class LeafLeaseModeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task A_lease_mode_stack_delivers_leased_frames_in_order_over_every_leaf(LeafKind leaf)
    {
        const int count = 500;
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.FloodAsync(count, 100, text: false);
            await s.WaitForCloseAsync();
        });
        var connector = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri(server.WebSocketUri).WithLeasedPayloads().WithReceiveRing(count * 2, 1024 * 1024).WithLeaf(leaf))
            .Build();
        await using var connection = connector.Start();

        using var cts = new CancellationTokenSource(Bound);
        var next = 0;
        while (next < count && await connection.Source.WaitToReadAsync(cts.Token))
        {
            while (next < count && connection.Source.TryRead(out var frame))
            {
                Assert.True(frame.IsLeased, $"frame {next} over {leaf} was not leased");
                Assert.Equal(next, ServerSession.ReadSequence(frame.Payload.Span, text: false));
                frame.Release();
                Assert.Throws<InvalidOperationException>(() => frame.Release());
                next++;
            }
        }

        Assert.Equal(count, next);
        Assert.Equal(0, connection.Lifecycle.Current.TotalLagged);
        await connection.Control.ShutdownAsync().WaitAsync(Bound);
    }
}

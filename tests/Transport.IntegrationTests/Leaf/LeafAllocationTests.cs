using Transport.IntegrationTests.Stack;
using Transport.Testing;
using Transport.WebSockets;
using static Transport.IntegrationTests.Leaf.LeafTestKit;

namespace Transport.IntegrationTests.Leaf;

/// <summary>
/// The leaf's size limit measured by allocation. GC.GetTotalAllocatedBytes is process-wide, so this
/// runs alone, in the non-parallel collection, where no other test's allocations can pollute it.
/// </summary>
[Collection(MemoryCollection.Name)]
public sealed class LeafAllocationTests
{
    [Fact]
    [Trait("Invariant", "Receiver.R2")]
    public async Task An_oversized_message_fails_with_MessageTooBig_closes_1009_and_is_never_buffered_whole()
    {
        const int limit = 64 * 1024;
        var oversized = new byte[16 * 1024 * 1024];
        var serverSawClose = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            // Raw frames: the server's own WebSocket would copy the message into a pooled send
            // buffer, and that (process-wide) allocation would hide the client's.
            var raw = await s.AcceptRawAsync();

            // The client stops reading mid-message, so this write may never finish: run it aside.
            _ = raw.WriteBinaryAsync(oversized);
            serverSawClose.TrySetResult(await raw.ReadUntilCloseAsync(s.Aborted));
            raw.Abort();
        });
        await using var connection = await ConnectAsync(server, new ClientWebSocketConnectorOptions { MaxMessageBytes = limit });

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var error = await connection.ReceiveFailsAsync();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(TransportErrorKind.MessageTooBig, error.Kind);
        Assert.Equal(CloseCodes.MessageTooBig, error.CloseCode);
        Assert.Equal(CloseCodes.MessageTooBig, await serverSawClose.Task.WaitAsync(Bound));

        // Process-wide (server included), still far below the 16 MiB message: it was never held whole.
        Assert.True(allocated < oversized.Length / 4, $"allocated {allocated} bytes while rejecting a {oversized.Length}-byte message");

        // The receiver stays failed.
        Assert.Equal(TransportErrorKind.MessageTooBig, (await connection.ReceiveFailsAsync()).Kind);
    }
}

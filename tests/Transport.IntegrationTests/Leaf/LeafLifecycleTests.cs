using Transport.Testing;
using Transport.WebSockets;
using static Transport.IntegrationTests.Leaf.LeafTestKit;

namespace Transport.IntegrationTests.Leaf;

/// <summary>How the leaf's socket ends: peer close, our close, abort, keep-alive timeout.</summary>
public sealed class LeafLifecycleTests
{
    [Fact]
    [Trait("Invariant", "Receiver.R4")]
    public async Task Server_close_with_code_and_reason_is_returned_once_then_ClosedByPeer()
    {
        var serverCloseDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.CloseAsync(4001, "venue maintenance");
            serverCloseDone.TrySetResult();
        });
        await using var connection = await ConnectAsync(server);

        var close = await connection.ReceiveAsync();
        var after = await connection.ReceiveFailsAsync();

        Assert.Equal(Frame.Close(4001, "venue maintenance"), close);
        Assert.Equal(TransportErrorKind.ClosedByPeer, after.Kind);
        Assert.Equal(4001, after.CloseCode);
        Assert.Equal("venue maintenance", after.CloseReason);

        // The server's CloseAsync only completes once the leaf echoed the close.
        await serverCloseDone.Task.WaitAsync(Bound);
    }

    [Fact]
    public async Task Client_close_reaches_the_server_and_completes_the_handshake()
    {
        var serverSawClose = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            serverSawClose.TrySetResult(await s.EchoAsync());
        });
        await using var connection = await ConnectAsync(server);

        await connection.Sender.CloseAsync(CloseCodes.NormalClosure, "bye", CancellationToken.None).AsTask().WaitAsync(Bound);

        Assert.Equal(CloseCodes.NormalClosure, await serverSawClose.Task.WaitAsync(Bound));
    }

    [Fact]
    public async Task Client_close_sends_our_half_without_waiting_for_the_peer()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptRawAsync();
            await s.StallHandshake(); // never reads, never answers the close
        });
        await using var connection = await ConnectAsync(server);

        // Completes once our close frame is out; the peer's answer would come through the receiver.
        await connection.Sender.CloseAsync(CloseCodes.NormalClosure, null, CancellationToken.None).AsTask().WaitAsync(Bound);

        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await connection.Receiver.ReceiveAsync(cts.Token));
    }

    [Fact]
    public async Task Abort_mid_message_fails_with_Connection_and_1006()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.ReceiveAsync(); // the client's "go": its handshake is complete before the abort
            await s.AbortMidMessageAsync();
        });
        await using var connection = await ConnectAsync(server);
        await connection.Sender.SendAsync(Frame.Text("go"), CancellationToken.None);

        var error = await connection.ReceiveFailsAsync();

        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.Equal(CloseCodes.Abnormal, error.CloseCode);
    }

    [Fact]
    public async Task A_server_that_never_answers_keepalive_pings_fails_the_receive_with_Timeout()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptRawAsync();
            await s.StallHandshake(); // upgraded, then silent: pings are never read nor answered
        });
        var options = new ClientWebSocketConnectorOptions
        {
            KeepAliveInterval = TimeSpan.FromMilliseconds(100),
            KeepAliveTimeout = TimeSpan.FromMilliseconds(300),
        };
        await using var connection = await ConnectAsync(server, options);

        var error = await connection.ReceiveFailsAsync();

        Assert.Equal(TransportErrorKind.Timeout, error.Kind);
    }

    [Fact]
    public async Task A_server_that_answers_keepalive_pings_keeps_the_socket_open()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var raw = await s.AcceptRawAsync();
            var pings = 0;
            while (await raw.ReadFrameAsync(s.Aborted) is { } frame)
            {
                if (frame.Opcode == RawWebSocketWriter.OpPing && ++pings == 5)
                {
                    await raw.WriteFrameAsync(RawWebSocketWriter.OpPong, true, frame.Payload);
                    await raw.WriteTextAsync("still alive"u8.ToArray());
                }
                else if (frame.Opcode == RawWebSocketWriter.OpPing)
                {
                    await raw.WriteFrameAsync(RawWebSocketWriter.OpPong, true, frame.Payload);
                }
            }
        });
        var options = new ClientWebSocketConnectorOptions
        {
            KeepAliveInterval = TimeSpan.FromMilliseconds(50),
            KeepAliveTimeout = TimeSpan.FromMilliseconds(2000),
        };
        await using var connection = await ConnectAsync(server, options);

        // Five keep-alive pings were answered before this message arrived: no timeout in between.
        var frame = await connection.ReceiveAsync();

        Assert.Equal("still alive", frame.GetText());
    }

    [Fact]
    public async Task Dispose_aborts_the_socket_and_the_server_sees_the_drop()
    {
        var serverSawClose = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            serverSawClose.TrySetResult(await s.WaitForCloseAsync());
        });
        var connection = await ConnectAsync(server);

        await connection.DisposeAsync();

        Assert.Null(await serverSawClose.Task.WaitAsync(Bound));
        await Assert.ThrowsAsync<TransportException>(() => connection.ReceiveAsync());
    }
}

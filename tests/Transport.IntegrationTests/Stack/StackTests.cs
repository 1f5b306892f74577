namespace Transport.IntegrationTests.Stack;

/// <summary>
/// The whole stack over real loopback sockets against Kestrel: drop and resume, permanent auth failure,
/// per-attempt credentials, graceful shutdown. Every wait is on a condition, bounded by <see cref="StackClient.Bound"/>.
/// </summary>
public sealed class StackTests
{
    [Fact]
    public async Task Server_drop_goes_Reconnecting_then_Resumed_with_epoch_plus_one_and_frames_flow_again()
    {
        await using var server = await FeedServer.StartAsync();
        await using var client = await StackClient.StartAsync(server.Uri);

        Assert.Equal(ConnectionPhase.Connected, (await client.WaitUpAsync(0)).Phase);
        await client.WaitForFramesAsync(connection: 1, count: 50);
        var sawReconnecting = client.WaitAsync(s => s.Phase == ConnectionPhase.Reconnecting);

        (await server.WaitForConnectionAsync(1)).Abort();

        var down = await sawReconnecting;
        Assert.Equal(0, down.Epoch);
        Assert.NotNull(down.DownSince);
        var resumed = await client.WaitUpAsync(1);
        Assert.Equal(ConnectionPhase.Resumed, resumed.Phase);
        Assert.Null(resumed.DownSince);
        Assert.Equal(TransportErrorKind.Connection, resumed.LastError?.Kind);
        await client.WaitForFramesAsync(connection: 2, count: 50);

        await client.ShutdownAsync();
        Assert.Equal(ConnectionPhase.Closed, client.Current.Phase);
        Assert.Equal(1, client.Current.Epoch);
        Assert.Equal(2, client.Current.Attempts);
        client.AssertConservedAndOrdered();
        await server.WaitUntilAsync(s => s.OpenConnections == 0, StackClient.Bound, "server connections closed");
        Assert.Empty(server.HandlerErrors);
    }

    [Fact]
    public async Task Handshake_401_becomes_Unrecoverable_after_the_permanent_retries_and_the_source_ends_with_it()
    {
        await using var server = await FeedServer.StartAsync();
        for (var n = 1; n <= 10; n++)
        {
            server.Script(n, s => s.RejectAsync(401));
        }

        await using var client = await StackClient.StartAsync(server.Uri, o => o.WithPermanentRetries(2), token: () => "expired");

        var final = await client.WaitAsync(s => s.IsTerminal);

        Assert.Equal(ConnectionPhase.Unrecoverable, final.Phase);
        Assert.Equal(TransportErrorKind.Auth, final.LastError?.Kind);
        Assert.Equal(401, final.LastError?.HttpStatus);
        Assert.Equal(3, final.Attempts); // the first attempt plus two permanent retries
        Assert.Equal(3, server.ConnectionCount);
        Assert.Equal(0, final.Epoch); // never connected
        await client.Changed.WaitUntilAsync(() => client.ConsumerEnded, StackClient.Bound, "source ended");
        var error = Assert.IsType<TransportException>(client.SourceError);
        Assert.Equal(401, error.HttpStatus);
        Assert.Equal(0, client.DeliveredCount);
    }

    [Fact]
    public async Task Auth_is_restamped_on_every_attempt_and_the_server_sees_the_rotated_token()
    {
        await using var server = await FeedServer.StartAsync();
        server.Script(1, s => s.RejectAsync(401)); // the first token is refused once
        var issued = 0;
        await using var client = await StackClient.StartAsync(
            server.Uri,
            o => o.WithPermanentRetries(2),
            token: () => "token-" + Interlocked.Increment(ref issued));

        await client.WaitUpAsync(0);
        await client.WaitForFramesAsync(connection: 2, count: 10);
        (await server.WaitForConnectionAsync(2)).Abort();
        await client.WaitUpAsync(1);
        await client.WaitForFramesAsync(connection: 3, count: 10);

        var seen = server.Handshakes.Select(h => h.Headers.GetValueOrDefault("Authorization") ?? "(none)").ToArray();
        Assert.Equal(new[] { "Bearer token-1", "Bearer token-2", "Bearer token-3" }, seen);
        Assert.Equal(3, client.Current.Attempts);
        await client.ShutdownAsync();
        client.AssertConservedAndOrdered();
    }

    [Fact]
    public async Task Shutdown_sends_a_close_frame_the_server_sees_as_1000_and_completes()
    {
        await using var server = await FeedServer.StartAsync();
        await using var client = await StackClient.StartAsync(server.Uri);
        await client.WaitForFramesAsync(connection: 1, count: 20);

        await client.ShutdownAsync();

        await server.WaitUntilAsync(s => s.SawCloseOn(1), StackClient.Bound, "server saw the close");
        Assert.Equal(CloseCodes.NormalClosure, server.CloseCodeSeenOn(1));
        Assert.Equal(ConnectionPhase.Closed, client.Current.Phase);
        Assert.False(client.Current.Exhausted);
        Assert.Null(client.SourceError);
        client.AssertConservedAndOrdered();
        await server.WaitUntilAsync(s => s.OpenConnections == 0, StackClient.Bound, "server connection ended");
        Assert.Equal(1, server.ConnectionCount);
    }

    [Fact]
    public async Task Frames_the_server_sends_during_the_close_handshake_are_delivered_without_gaps()
    {
        const int afterClose = 200;
        await using var server = await FeedServer.StartAsync();
        server.Script(1, async s =>
        {
            await s.AcceptAsync();
            for (var i = 0; i < 10; i++)
            {
                await s.SendAsync(FeedFrame.Encode(1, i, 64), text: true);
            }

            // RFC 6455: after the client's close, the server may still send data until it sends its own close.
            var close = await s.ReceiveAsync();
            for (var i = 10; i < 10 + afterClose; i++)
            {
                await s.SendAsync(FeedFrame.Encode(1, i, 64), text: true);
            }

            await s.Socket.CloseOutputAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, s.Aborted);
            server.RecordClose(1, close.CloseStatus);
        });
        await using var client = await StackClient.StartAsync(server.Uri);
        await client.WaitForFramesAsync(connection: 1, count: 10);

        await client.ShutdownAsync();

        // Every frame the server sent before its close frame was read by the actor and delivered, in order.
        var delivered = client.Delivered;
        StackClient.AssertOrdered(delivered, gapFree: true);
        Assert.Equal(10 + afterClose, delivered.Count);
        Assert.Equal(client.FramesRead, delivered.Count);
    }
}

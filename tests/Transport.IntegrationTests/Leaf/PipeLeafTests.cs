using System.Net.WebSockets;
using System.Text;
using Transport.Testing;
using Transport.WebSockets;
using static Transport.IntegrationTests.Leaf.LeafTestKit;

namespace Transport.IntegrationTests.Leaf;

/// <summary>What the Pipelines leaf adds over the contract: deflate, keep-alive, rejections, invokers, the whole stack.</summary>
public sealed class PipeLeafTests
{
    private static async Task<ILeafConnection> ConnectPipeAsync(LoopbackServer server, PipeWebSocketConnectorOptions? options = null, HandshakeRequest? handshake = null) =>
        await new PipeWebSocketConnector(options).ConnectAsync(handshake ?? Handshake(server), CancellationToken.None).AsTask().WaitAsync(Bound);

    [Fact]
    [Trait("Invariant", "PipeLeaf.R1")]
    public async Task Permessage_deflate_with_Kestrel_round_trips_both_ways_and_is_reported()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync(enableCompression: true);
            await s.EchoAsync();
        });
        await using var connection = await ConnectPipeAsync(server, new PipeWebSocketConnectorOptions { DeflateOptions = new WebSocketDeflateOptions() });
        var text = string.Concat(Enumerable.Repeat("bid=101.25 ask=101.26 ", 500));
        var binary = new byte[300_000];
        new Random(9).NextBytes(binary.AsSpan(0, 1000));

        for (var i = 0; i < 3; i++)
        {
            await connection.Sender.SendAsync(Frame.Text(text), CancellationToken.None);
            Assert.Equal(text, (await connection.ReceiveAsync()).GetText());
        }

        await connection.Sender.SendAsync(Frame.Binary(binary), CancellationToken.None);
        Assert.Equal(binary, (await connection.ReceiveAsync()).Payload.ToArray());
        Assert.Contains(connection.Handshake.Extensions, e => e.StartsWith("permessage-deflate", StringComparison.Ordinal));
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R2")]
    public async Task A_compressed_message_inflating_past_the_limit_fails_with_1009_over_a_real_socket()
    {
        var serverSawClose = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var socket = await s.AcceptAsync(enableCompression: true);
            await socket.SendAsync(new byte[8 * 1024 * 1024], WebSocketMessageType.Binary, true, s.Aborted);
            serverSawClose.TrySetResult(await s.WaitForCloseAsync());
        });
        await using var connection = await ConnectPipeAsync(server, new PipeWebSocketConnectorOptions { DeflateOptions = new WebSocketDeflateOptions(), MaxMessageBytes = 64 * 1024 });

        var error = await connection.ReceiveFailsAsync();

        Assert.Equal(TransportErrorKind.MessageTooBig, error.Kind);
        Assert.Equal(CloseCodes.MessageTooBig, await serverSawClose.Task.WaitAsync(Bound));
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.K1")]
    public async Task A_server_that_never_answers_keepalive_pings_fails_the_receive_with_Timeout()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptRawAsync();
            await s.StallHandshake(); // upgraded, then silent
        });
        await using var connection = await ConnectPipeAsync(server, new PipeWebSocketConnectorOptions
        {
            KeepAliveInterval = TimeSpan.FromMilliseconds(100),
            KeepAliveTimeout = TimeSpan.FromMilliseconds(300),
        });

        var error = await connection.ReceiveFailsAsync();

        Assert.Equal(TransportErrorKind.Timeout, error.Kind);
        Assert.True(connection.Capabilities.HasFlag(LeafCapabilities.KeepAliveProbe));
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.K1")]
    public async Task Answered_keepalive_pings_keep_the_socket_open_and_their_pongs_are_surfaced()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var raw = await s.AcceptRawAsync();
            var pings = 0;
            while (await raw.ReadFrameAsync(s.Aborted) is { } frame)
            {
                if (frame.Opcode == RawWebSocketWriter.OpPing)
                {
                    await raw.WriteFrameAsync(RawWebSocketWriter.OpPong, true, frame.Payload);
                    if (++pings == 5)
                    {
                        await raw.WriteTextAsync("still alive"u8.ToArray());
                    }
                }
            }
        });
        await using var connection = await ConnectPipeAsync(server, new PipeWebSocketConnectorOptions
        {
            KeepAliveInterval = TimeSpan.FromMilliseconds(50),
            KeepAliveTimeout = TimeSpan.FromMilliseconds(2000),
        });

        var pongs = 0;
        Frame frame;
        while ((frame = await connection.ReceiveAsync()).Kind == FrameKind.Pong)
        {
            pongs++;
        }

        Assert.Equal("still alive", frame.GetText());
        Assert.True(pongs >= 4, $"{pongs} pongs surfaced");
    }

    [Theory]
    [InlineData(401, TransportErrorKind.Auth)]
    [InlineData(403, TransportErrorKind.Auth)]
    [InlineData(503, TransportErrorKind.Connection)]
    public async Task A_rejected_handshake_carries_its_status(int status, TransportErrorKind kind)
    {
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(status));

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectPipeAsync(server));

        Assert.Equal(kind, error.Kind);
        Assert.Equal(status, error.HttpStatus);
    }

    [Fact]
    public async Task Headers_cookies_subprotocols_and_query_reach_the_server_through_an_HttpClient_invoker()
    {
        const string secret = "SUPERSECRET-7f3a";
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync(subProtocol: "feed.v2");
            await s.EchoAsync();
        });
        var handshake = Handshake(server);
        handshake.Headers["X-Api-Key"] = secret;
        handshake.Cookies["session"] = "abc123";
        handshake.SubProtocols.Add("feed.v1");
        handshake.SubProtocols.Add("feed.v2");
        handshake.Query["token"] = secret;
        var counter = new Transport.IntegrationTests.Hosting.HandshakeCounter();
        using var client = new HttpClient(new Transport.IntegrationTests.Hosting.CountingHandler(counter) { InnerHandler = new SocketsHttpHandler() }); // HttpClient would buffer the content unless asked for headers only

        await using var connection = await ConnectPipeAsync(server, new PipeWebSocketConnectorOptions { HttpMessageInvoker = client }, handshake);
        await connection.Sender.SendAsync(Frame.Text("ping?"), CancellationToken.None);

        Assert.Equal("ping?", (await connection.ReceiveAsync()).GetText());
        var seen = Assert.Single(server.Handshakes);
        Assert.Equal(secret, seen.Headers["X-Api-Key"]);
        Assert.Equal("abc123", seen.Cookies["session"]);
        Assert.Contains($"token={secret}", seen.QueryString, StringComparison.Ordinal);
        Assert.Equal("feed.v2", connection.SubProtocol);
        Assert.Equal(1, counter.Count);
    }

    [Fact]
    public async Task The_whole_stack_runs_on_the_pipe_leaf_and_answers_server_pings_through_its_pong_lane()
    {
        var pongs = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var raw = await s.AcceptRawAsync();
            for (var i = 0; i < 20; i++)
            {
                await raw.WritePingAsync([(byte)i]);
            }

            await raw.WriteTextAsync(Encoding.UTF8.GetBytes("after pings"));
            var answered = 0;
            while (answered < 20 && await raw.ReadFrameAsync(s.Aborted) is { } frame)
            {
                answered += frame.Opcode == RawWebSocketWriter.OpPong ? 1 : 0;
            }

            pongs.TrySetResult(answered);
            await raw.ReadUntilCloseAsync(s.Aborted);
        });
        var connector = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri(server.WebSocketUri))
            .UseLeaf(new PipeWebSocketConnector())
            .Build();
        await using var connection = connector.Start();

        await using var frames = connection.Source.GetAsyncEnumerator();
        Assert.True(await frames.MoveNextAsync().AsTask().WaitAsync(Bound));

        Assert.Equal("after pings", frames.Current.GetText());
        Assert.True(frames.Current.ReceivedAt > 0);
        Assert.Equal(20, await pongs.Task.WaitAsync(Bound));
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R1")]
    public async Task Lease_mode_over_the_pipe_leaf_delivers_leased_frames_in_order()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.FloodAsync(500, 100, text: true);
            await s.WaitForCloseAsync();
        });
        var connector = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri(server.WebSocketUri).WithLeasedPayloads())
            .UsePipelinesLeaf()
            .Build();
        await using var connection = connector.Start();

        var batch = new Frame[64];
        var received = 0;
        while (received < 500)
        {
            var taken = await connection.Source.ReadBatchAsync(batch, CancellationToken.None).AsTask().WaitAsync(Bound);
            for (var i = 0; i < taken; i++)
            {
                Assert.True(batch[i].IsLeased);
                Assert.Equal(received++, ServerSession.ReadSequence(batch[i].Payload.Span, text: true));
                batch[i].Release();
            }
        }
    }
}

using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Transport.Testing.Chaos;

namespace Transport.IntegrationTests.Chaos;

/// <summary>
/// Self-tests of <see cref="ChaosProxy"/> over real loopback sockets, with a plain TCP echo server upstream.
/// No sleeps: every wait is on a condition (proxy counters, a read) bounded by <see cref="Timeout"/>.
/// Test names carry the invariant they prove (P1..P8, listed on <see cref="ChaosProxy"/>).
/// </summary>
public sealed class ProxyTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly List<Socket> _clients = [];
    private EchoServer _echo = null!;
    private ChaosProxy _proxy = null!;

    public Task InitializeAsync()
    {
        _echo = new EchoServer();
        _proxy = ChaosProxy.Start(_echo.EndPoint);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await _proxy.DisposeAsync();
        await _echo.DisposeAsync();
    }

    [Fact]
    public async Task P1_bytes_pass_through_both_ways()
    {
        var client = await ConnectAsync();
        var payload = RandomBytes(100_000);

        var echoed = ReceiveExactlyAsync(client, payload.Length);
        await SendAsync(client, payload);

        Assert.Equal(payload, await echoed);
        await _proxy.WaitUntilAsync(p => p.BytesClientToServer == payload.Length && p.BytesServerToClient == payload.Length, Timeout);
        Assert.Equal(1, _proxy.TotalAccepted);
        Assert.Equal(1, _proxy.ActiveConnections);
        Assert.Equal(1, _proxy.UpstreamConnects);
        Assert.Equal(1, _echo.Accepted);
        Assert.Equal(0, _proxy.BytesDiscarded);
    }

    [Fact]
    public async Task P2_cut_fin_gives_client_end_of_stream()
    {
        var client = await ConnectedAndEchoingAsync();

        _proxy.CutAll(CutMode.Fin);

        Assert.Equal(0, await ReceiveOnceAsync(client));
        await _proxy.WaitUntilAsync(p => p.ActiveConnections == 0, Timeout);
    }

    [Fact]
    public async Task P2_cut_rst_gives_client_connection_reset()
    {
        var client = await ConnectedAndEchoingAsync();

        _proxy.CutAll(CutMode.Rst);

        var error = await Assert.ThrowsAsync<SocketException>(() => ReceiveOnceAsync(client));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        await _proxy.WaitUntilAsync(p => p.ActiveConnections == 0, Timeout);
    }

    [Fact]
    public async Task P3_half_open_server_to_client_discards_until_resume()
    {
        var client = await ConnectedAndEchoingAsync();

        _proxy.HalfOpen(Direction.ServerToClient);
        await SendAsync(client, Ascii("ping"));

        // The echo answered and the proxy dropped the answer: it can never reach the client.
        await _proxy.WaitUntilAsync(p => p.BytesDiscarded == 4, Timeout);
        AssertOpenAndSilent(client);
        Assert.Equal(1, _proxy.ActiveConnections);

        _proxy.Resume();
        await SendAsync(client, Ascii("pong"));

        Assert.Equal("pong", Encoding.ASCII.GetString(await ReceiveExactlyAsync(client, 4)));
    }

    [Fact]
    public async Task P3_half_open_hold_delivers_held_bytes_after_resume()
    {
        var client = await ConnectedAndEchoingAsync();
        var forwardedBefore = _proxy.BytesServerToClient;

        _proxy.HalfOpen(Direction.ServerToClient, HalfOpenMode.Hold);
        await SendAsync(client, Ascii("ping"));

        // The proxy holds the echoed bytes in hand: read from the server, not forwarded.
        await _proxy.WaitUntilAsync(p => p.BytesReadFromServer == forwardedBefore + 4, Timeout);
        Assert.Equal(forwardedBefore, _proxy.BytesServerToClient);
        AssertOpenAndSilent(client);

        _proxy.Resume();

        Assert.Equal("ping", Encoding.ASCII.GetString(await ReceiveExactlyAsync(client, 4)));
        Assert.Equal(0, _proxy.BytesDiscarded);
    }

    [Fact]
    public async Task P4_throttle_limits_rate()
    {
        var client = await ConnectedAndEchoingAsync();
        var payload = RandomBytes(64 * 1024);

        _proxy.Throttle(32 * 1024);
        var clock = Stopwatch.StartNew();
        var echoed = ReceiveExactlyAsync(client, payload.Length);
        await SendAsync(client, payload);
        Assert.Equal(payload, await echoed);
        clock.Stop();

        // 64 KiB at 32 KiB/s needs 2 s; loose lower bound, this is a self-test of the proxy.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.5), $"64 KiB at 32 KiB/s took only {clock.Elapsed}.");

        _proxy.Unthrottle();
        clock.Restart();
        echoed = ReceiveExactlyAsync(client, payload.Length);
        await SendAsync(client, payload);
        Assert.Equal(payload, await echoed);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1.5), $"Unthrottled 64 KiB took {clock.Elapsed}.");
    }

    [Fact]
    public async Task P4_delay_holds_each_chunk_in_both_directions()
    {
        var client = await ConnectedAndEchoingAsync();

        _proxy.Delay(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();
        await RoundTripAsync(client, "slow");
        clock.Stop();

        // One chunk each way, each held 200 ms: at least 400 ms; loose bound.
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(350), $"A delayed round trip took only {clock.Elapsed}.");

        _proxy.Delay(TimeSpan.Zero);
        await RoundTripAsync(client, "fast");
    }

    [Fact]
    public async Task P5_cut_mid_frame_delivers_exact_prefix_then_reset()
    {
        var client = await ConnectedAndEchoingAsync();
        var payload = RandomBytes(1000);

        var cut = _proxy.CutMidFrame(100);
        await SendAsync(client, payload);

        var (received, error) = await ReceiveUntilFailureAsync(client);
        Assert.Equal(100, await cut.WaitAsync(Timeout));
        Assert.Equal(payload[..100], received);
        Assert.Equal(SocketError.ConnectionReset, error?.SocketErrorCode);
        await _proxy.WaitUntilAsync(p => p.ActiveConnections == 0, Timeout);
    }

    [Fact]
    public async Task P5_cut_mid_frame_default_forwards_half_of_next_chunk()
    {
        var client = await ConnectedAndEchoingAsync();
        var payload = RandomBytes(1000);

        var cut = _proxy.CutMidFrame();
        await SendAsync(client, payload);

        var (received, error) = await ReceiveUntilFailureAsync(client);
        var forwarded = await cut.WaitAsync(Timeout);
        Assert.InRange(forwarded, 1, payload.Length - 1);
        Assert.Equal(payload[..forwarded], received);
        Assert.Equal(SocketError.ConnectionReset, error?.SocketErrorCode);
    }

    [Fact]
    public async Task P6_refuse_by_closing_listener_fails_connects_then_same_port_serves_again()
    {
        var existing = await ConnectedAndEchoingAsync();
        var port = _proxy.Port;

        _proxy.RefuseNewConnections(true);

        var refused = await Assert.ThrowsAsync<SocketException>(() => ConnectAsync());
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        await RoundTripAsync(existing, "still up");

        _proxy.RefuseNewConnections(false);

        Assert.Equal(port, _proxy.Port);
        await RoundTripAsync(await ConnectAsync(), "back");
        Assert.Equal(2, _proxy.TotalAccepted);
    }

    [Fact]
    public async Task P6_refuse_by_accept_and_reset_counts_attempts()
    {
        _proxy.RefuseNewConnections(true, RefuseMode.AcceptAndReset);

        await AssertRejectedAsync();
        await _proxy.WaitUntilAsync(p => p.RefusedCount == 1, Timeout);
        Assert.Equal(0, _proxy.TotalAccepted);
        Assert.Equal(0, _echo.Accepted);

        _proxy.RefuseNewConnections(false);

        await RoundTripAsync(await ConnectAsync(), "back");
        Assert.Equal(1, _proxy.RefusedCount);
    }

    [Fact]
    public async Task P7_blackhole_accepts_tcp_but_never_connects_upstream()
    {
        _proxy.BlackholeNewConnections(true);
        var client = await ConnectAsync();
        var request = Ascii("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n");

        await SendAsync(client, request);

        // The proxy read the request, so the TCP connection is up; it went nowhere.
        await _proxy.WaitUntilAsync(p => p.BytesReadFromClient == request.Length, Timeout);
        Assert.Equal(1, _proxy.TotalAccepted);
        Assert.Equal(1, _proxy.ActiveConnections);
        Assert.Equal(0, _proxy.UpstreamConnects);
        Assert.Equal(0, _echo.Accepted);
        Assert.Equal(request.Length, _proxy.BytesDiscarded);
        AssertOpenAndSilent(client);

        _proxy.BlackholeNewConnections(false);

        await RoundTripAsync(await ConnectAsync(), "served");
        Assert.Equal(1, _proxy.UpstreamConnects);
    }

    [Fact]
    public async Task P8_dispose_stops_every_pump()
    {
        var forwarded = await ConnectedAndEchoingAsync();
        _proxy.BlackholeNewConnections(true);
        var blackholed = await ConnectAsync();
        await _proxy.WaitUntilAsync(p => p.ActivePumpCount == 3, Timeout);

        // Leave a pump parked on a hold gate: dispose must release it too.
        _proxy.HalfOpen(Direction.ServerToClient, HalfOpenMode.Hold);
        await SendAsync(forwarded, Ascii("held"));
        await _proxy.WaitUntilAsync(p => p.BytesReadFromServer == p.BytesServerToClient + 4, Timeout);

        await _proxy.DisposeAsync();

        Assert.Equal(0, _proxy.ActivePumpCount);
        Assert.Equal(0, _proxy.ActiveConnections);
        await AssertEndedAsync(forwarded);
        await AssertEndedAsync(blackholed);
        var refused = await Assert.ThrowsAsync<SocketException>(() => ConnectAsync());
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    private async Task<Socket> ConnectAsync()
    {
        var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _clients.Add(client);
        await client.ConnectAsync(_proxy.EndPoint).WaitAsync(Timeout);
        return client;
    }

    private async Task<Socket> ConnectedAndEchoingAsync()
    {
        var client = await ConnectAsync();
        await RoundTripAsync(client, "hello");
        return client;
    }

    /// <summary>Connect must fail, or succeed at TCP level and then read a reset or end of stream.</summary>
    private async Task AssertRejectedAsync()
    {
        Socket client;
        try
        {
            client = await ConnectAsync();
        }
        catch (SocketException)
        {
            // The reset beat the connect completion: also a rejection.
            return;
        }

        await AssertEndedAsync(client);
    }

    private static async Task AssertEndedAsync(Socket client)
    {
        try
        {
            Assert.Equal(0, await ReceiveOnceAsync(client));
        }
        catch (SocketException error)
        {
            Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        }
    }

    /// <summary>No byte to read and no end of stream or error pending: the connection is open and quiet.</summary>
    private static void AssertOpenAndSilent(Socket client)
    {
        Assert.Equal(0, client.Available);
        Assert.False(client.Poll(0, SelectMode.SelectRead), "The client has data, an end of stream or an error pending.");
    }

    private static async Task RoundTripAsync(Socket client, string text)
    {
        var bytes = Ascii(text);
        var echoed = ReceiveExactlyAsync(client, bytes.Length);
        await SendAsync(client, bytes);
        Assert.Equal(text, Encoding.ASCII.GetString(await echoed));
    }

    private static async Task SendAsync(Socket client, byte[] bytes)
    {
        var sent = 0;
        while (sent < bytes.Length)
        {
            sent += await client.SendAsync(bytes.AsMemory(sent), SocketFlags.None).AsTask().WaitAsync(Timeout);
        }
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket client, int count)
    {
        var buffer = new byte[count];
        var received = 0;
        while (received < count)
        {
            var read = await client.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None).AsTask().WaitAsync(Timeout);
            Assert.True(read > 0, $"End of stream after {received} of {count} bytes.");
            received += read;
        }

        return buffer;
    }

    private static async Task<int> ReceiveOnceAsync(Socket client) =>
        await client.ReceiveAsync(new byte[1024].AsMemory(), SocketFlags.None).AsTask().WaitAsync(Timeout);

    /// <summary>Reads until end of stream or a socket error; returns what arrived and the error, if any.</summary>
    private static async Task<(byte[] Received, SocketException? Error)> ReceiveUntilFailureAsync(Socket client)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await client.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Timeout);
                if (read == 0)
                {
                    return ([.. received], null);
                }

                received.AddRange(buffer.AsSpan(0, read));
            }
        }
        catch (SocketException error)
        {
            return ([.. received], error);
        }
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }
}

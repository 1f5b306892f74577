using System.Text;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Stack;

/// <summary>
/// Liveness over Kestrel with the ClientWebSocket leaf, which answers server pings itself and never
/// shows them to the stack: a server that pings but sends no data is Stale, not dead (Liveness.L5).
/// </summary>
public sealed class HonestLivenessTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    [Trait("Invariant", "Liveness.L5")]
    public async Task A_pinging_but_silent_server_stays_up_Stale_not_torn_down_with_the_ClientWebSocket_leaf()
    {
        using var stop = new CancellationTokenSource();
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var raw = await s.AcceptRawAsync(subProtocol: "feed.v2");
            await raw.WriteTextAsync(Encoding.UTF8.GetBytes("hello"));
            try
            {
                // Pings every 100 ms, never data: healthy but quiet (the client's leaf answers them itself).
                while (!stop.IsCancellationRequested && !s.Aborted.IsCancellationRequested)
                {
                    await raw.WriteFrameAsync(RawWebSocketWriter.OpPing, fin: true, "hb"u8.ToArray());
                    await Task.Delay(TimeSpan.FromMilliseconds(100), stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
                // Test over.
            }
            catch (IOException)
            {
                // The client went away.
            }
        });

        var connector = new WebSocketTransportBuilder()
            .Configure(o => o
                .WithUri(server.WebSocketUri)
                .WithSubProtocol("feed.v2")
                // Before: DeadAfter 1 s tore this healthy connection down because the pings are invisible.
                .WithIdleTimeouts(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(1)))
            .Build();
        await using var connection = connector.Start();

        var up = await connection.Lifecycle.WaitAsync(s => s.IsUp).AsTask().WaitAsync(Bound);
        Assert.Equal(0, up.Epoch);
        Assert.Equal("feed.v2", connection.Session?.SubProtocol);
        Assert.NotNull(up.UpSince);
        var stale = await connection.Lifecycle.WaitAsync(s => s.Phase == ConnectionPhase.Stale).AsTask().WaitAsync(Bound);
        Assert.Equal(0, stale.Epoch);

        // Three times DeadAfter of data silence while the pings keep coming: still the same socket.
        var quietSince = System.Diagnostics.Stopwatch.GetTimestamp();
        while (System.Diagnostics.Stopwatch.GetElapsedTime(quietSince) < TimeSpan.FromSeconds(3))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100));
            Assert.Equal(ConnectionPhase.Stale, connection.Lifecycle.Current.Phase);
        }

        var now = connection.Lifecycle.Current;
        Assert.Equal(0, now.Epoch);
        Assert.Equal(1, now.Attempts);
        Assert.Equal(1, server.ConnectionCount);
        Assert.True(connection.Source.TryRead(out var hello));
        Assert.Equal("hello", hello.GetText());
        Assert.Equal(0, hello.Epoch);
        Assert.NotEqual(0, hello.ReceivedAt);
        await stop.CancelAsync();
    }
}

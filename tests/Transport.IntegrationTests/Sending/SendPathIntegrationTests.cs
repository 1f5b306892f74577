using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using Transport.IntegrationTests.Stack;
using Transport.Testing;

namespace Transport.IntegrationTests.Sending;

/// <summary>
/// Issue #13 over real loopback sockets against Kestrel: a peer that stops reading (the write
/// timeout). The venue counting frames per sliding second (the pacing rule) is VenueRateTests.
/// Every wait is on a condition, bounded.
/// </summary>
public sealed class SendPathIntegrationTests
{
    [Fact]
    public async Task Item10_a_server_that_stops_reading_is_detected_by_the_write_timeout_and_frames_resume_on_the_next_connection()
    {
        // (session, text): under load a later session can also miss the write timeout and be replaced,
        // so arrivals are judged per session, not as one stream.
        var received = new ConcurrentQueue<(int Session, string Text)>();
        var markerArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async session =>
        {
            await session.AcceptAsync();
            if (session.Number == 1)
            {
                // Accept, then never read: the client's writes fill the TCP buffers and stall.
                await Task.Delay(Timeout.Infinite, session.Aborted);
                return;
            }

            while (true)
            {
                var message = await session.ReceiveAsync();
                if (message.Type == WebSocketMessageType.Close)
                {
                    return;
                }

                received.Enqueue((session.Number, message.Text));
                if (message.Text == "marker")
                {
                    markerArrived.TrySetResult();
                }
            }
        });
        await using var client = await StackClient.StartAsync(server.WebSocketUri, o => o
            .WithWriteTimeout(TimeSpan.FromSeconds(1))
            .WithSendQueue(64, 64L * 1024 * 1024));
        await client.WaitUpAsync(0);

        // 64 KiB frames until the stall: far more than loopback and Kestrel buffer (a few MB).
        var big = new string('x', 64 * 1024);
        var sends = new List<Task>();
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < 400; i++)
        {
            sends.Add(client.Connection.Sink.SendAsync(Frame.Text(i + ":" + big)).AsTask());
        }

        var marker = client.Connection.Sink.SendAsync(Frame.Text("marker")).AsTask();
        var resumed = await client.WaitUpAsync(1);

        Assert.Equal(ConnectionPhase.Resumed, resumed.Phase);
        Assert.Equal(TransportErrorKind.Timeout, resumed.LastError?.Kind);
        await Task.WhenAll(sends).WaitAsync(StackClient.Bound);
        await marker.WaitAsync(StackClient.Bound);
        await markerArrived.Task.WaitAsync(StackClient.Bound);

        // At-least-once: the frame whose write was interrupted went out again, so the first connection
        // that reads starts at or before the first frame not written to the dead socket, and nothing
        // after it is missing. Each connection receives in send order; if a loaded server made a later
        // connection time out as well, the next one resends from its own interrupted frame (a
        // duplicate, never a gap), so the union is judged, not one concatenated list.
        static int Number(string text) => int.Parse(text[..text.IndexOf(':', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
        var bySession = received.Where(r => r.Text != "marker").GroupBy(r => r.Session).OrderBy(g => g.Key)
            .Select(g => g.Select(r => Number(r.Text)).ToList()).ToList();
        Assert.NotEmpty(bySession);
        foreach (var numbers in bySession)
        {
            Assert.Equal(numbers.OrderBy(n => n).Distinct(), numbers);
        }

        var first = bySession[0][0];
        Assert.Equal(Enumerable.Range(first, 400 - first), bySession.SelectMany(n => n).Distinct().Order());
        Assert.True(stopwatch.Elapsed < StackClient.Bound, $"Took {stopwatch.Elapsed}.");
    }
}

using Transport.Mock;

namespace Transport.Tests.Mock;

/// <summary>The three doubles together, the way an actor test uses them: arrange, advance, pump, assert.</summary>
public sealed class MockHarnessTests
{
    [Fact]
    [Trait("Invariant", "MockSocket.M5")]
    public void M5_a_pumped_reader_sees_deliveries_only_when_pumped_and_stays_on_its_scheduler()
    {
        var (connector, clock, spawner) = MockHarness.CreateWithManualClock();
        var socket = connector.Next.Succeeds();
        socket.DeliverText("snapshot");
        var testThread = Environment.CurrentManagedThreadId;
        var seen = new List<string>();
        var threads = new HashSet<int>();
        var schedulers = new HashSet<TaskScheduler>();

        // A toy actor: connect with a timeout from the clock, answer pings, read until the socket ends.
        var actor = spawner.Spawn(async () =>
        {
            using var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), clock);
            await using var connection = await connector.ConnectAsync(new HandshakeRequest(new Uri("wss://venue.test/")), connectTimeout.Token);
            while (true)
            {
                Frame frame;
                try
                {
                    frame = await connection.Receiver.ReceiveAsync(CancellationToken.None);
                }
                catch (TransportException e)
                {
                    seen.Add($"ended {e.CloseCode}");
                    return;
                }
                finally
                {
                    threads.Add(Environment.CurrentManagedThreadId);
                    schedulers.Add(TaskScheduler.Current);
                }

                if (frame.Kind == FrameKind.Ping)
                {
                    await connection.Sender.SendAsync(Frame.Pong(frame.Payload), CancellationToken.None);
                    seen.Add("ping");
                }
                else
                {
                    seen.Add(frame.GetText());
                }
            }
        });

        spawner.RunUntilIdle();
        Assert.Equal(["snapshot"], seen);
        Assert.True(socket.IsReceivePending);

        socket.DeliverPing([1]);
        socket.DeliverText("tick");
        Assert.Equal(["snapshot"], seen);
        spawner.RunUntilIdle();
        Assert.Equal(["snapshot", "ping", "tick"], seen);
        Assert.Equal(1, socket.PongsSent);

        clock.Advance(TimeSpan.FromSeconds(30));
        socket.Disconnect();
        spawner.RunUntilIdle();

        Assert.Equal(["snapshot", "ping", "tick", "ended 1006"], seen);
        Assert.True(actor.IsCompletedSuccessfully);
        Assert.True(socket.IsDisposed);
        Assert.Equal([testThread], threads);
        Assert.Equal([spawner.Scheduler], schedulers);
        Assert.Equal(0, clock.ActiveTimerCount);
    }

    [Fact]
    public void A_hung_connect_times_out_by_the_clock_and_the_actor_resumes_when_pumped()
    {
        var (connector, clock, spawner) = MockHarness.Create();
        connector.Next.Hangs();
        string? outcome = null;

        var actor = spawner.Spawn(async () =>
        {
            using var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), clock);
            try
            {
                await connector.ConnectAsync(new HandshakeRequest(new Uri("wss://venue.test/")), connectTimeout.Token);
                outcome = "connected";
            }
            catch (OperationCanceledException) when (connectTimeout.IsCancellationRequested)
            {
                outcome = $"timed out at {clock.GetUtcNow():HH:mm:ss}";
            }
        });

        spawner.RunUntilIdle();
        Assert.Equal(1, connector.HangingAttempts);
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Null(outcome);

        spawner.RunUntilIdle();

        Assert.Equal("timed out at 00:00:05", outcome);
        Assert.True(actor.IsCompletedSuccessfully);
        Assert.Equal(0, connector.HangingAttempts);
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M5")]
    public void M5_a_delivery_made_by_other_pumped_work_does_not_run_the_reader_inline()
    {
        var (_, _, spawner) = MockHarness.Create();
        var socket = new MockSocket();
        var order = new List<string>();

        spawner.Spawn(async () =>
        {
            var frame = await socket.Receiver.ReceiveAsync(CancellationToken.None);
            order.Add($"reader got {frame.GetText()}");
        });
        spawner.RunUntilIdle();

        spawner.Spawn(() =>
        {
            socket.DeliverText("x");
            order.Add("server delivered");
            return Task.CompletedTask;
        });
        spawner.RunUntilIdle();

        // The reader resumed as its own queued step, after the delivering step finished.
        Assert.Equal(["server delivered", "reader got x"], order);
    }
}

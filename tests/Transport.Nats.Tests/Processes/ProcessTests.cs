using System.Globalization;
using System.Text.RegularExpressions;
using Transport.Nats.Tests.Infrastructure;
using Transport.Testing.Chaos;
using Xunit.Abstractions;

namespace Transport.Nats.Tests.Processes;

/// <summary>
/// Issue 22's proof, with real processes: the gateway (samples/Relay) and consumers (samples/ConsoleSubscriber
/// --from-nats) are child processes, so kill -9 is real; the venue simulator runs here and logs every session.
/// </summary>
[Collection(NatsCollection.Name)]
public sealed partial class ProcessTests(NatsFixture nats, ITestOutputHelper output)
{
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(60);

    // Short lease timings, so failover tests take seconds: renew 250 ms, fence 1 s, ttl 2 s, check 100 ms.
    private static readonly NatsLeaseOptions Lease = new()
    {
        RenewInterval = TimeSpan.FromMilliseconds(250),
        FenceAfter = TimeSpan.FromSeconds(1),
        Ttl = TimeSpan.FromSeconds(2),
        CheckInterval = TimeSpan.FromMilliseconds(100),
    };

    private static string[] RelayArgs(string url, string feed, Uri venue, string id) =>
    [
        "--nats", url, "--feed", feed, "--venue", venue.ToString(), "--relay-id", id, "--quiet",
        "--lease-ttl-ms", Ms(Lease.Ttl), "--renew-ms", Ms(Lease.RenewInterval), "--fence-ms", Ms(Lease.FenceAfter), "--check-ms", Ms(Lease.CheckInterval),
    ];

    private static string Ms(TimeSpan t) => ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    private static bool Active(string line) => line.StartsWith("ROLE Active", StringComparison.Ordinal);

    private static long Acked(string line) => line.StartsWith("ACKED ", StringComparison.Ordinal) ? long.Parse(line[6..], CultureInfo.InvariantCulture) : -1;

    /// <summary>FRAME stream:relay:generation epoch=E description.</summary>
    private static List<(ulong Stream, long Relay, long Generation, long Epoch, string What)> Frames(ChildProcess consumer) =>
        [.. consumer.Lines.Select(l => FrameLine().Match(l)).Where(m => m.Success).Select(m => (
            ulong.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture),
            long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
            long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture),
            long.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture),
            m.Groups[5].Value))];

    [GeneratedRegex(@"^FRAME (\d+):(\d+):(\d+) epoch=(\d+) (.*)$")]
    private static partial Regex FrameLine();

    [Fact]
    public async Task Three_consumer_processes_read_one_feed_through_the_relay_with_the_same_sequence_and_no_gap()
    {
        await using var venue = await VenueLog.StartAsync();
        var feed = TestSetup.NewFeed("three");
        await using var relay = ChildProcess.Start("Relay", RelayArgs(nats.Server.Url, feed, venue.Host.WebSocketUri, "gw"));
        await relay.WaitForLineAsync(Active, Start, "ROLE Active");

        const int count = 300;
        var consumers = Enumerable.Range(0, 3)
            .Select(_ => ChildProcess.Start("ConsoleSubscriber", "--from-nats", nats.Server.Url, "--feed", feed, "--frames", "--count", count.ToString(CultureInfo.InvariantCulture)))
            .ToList();
        try
        {
            foreach (var consumer in consumers)
            {
                Assert.Equal(0, await consumer.WaitForExitAsync(Start));
            }

            var reads = consumers.Select(Frames).ToList();
            foreach (var (read, i) in reads.Select((r, i) => (r, i)))
            {
                Assert.True(read.Count == count, $"consumer {i} printed {read.Count} frames:\n{consumers[i].Tail(20)}");
                Assert.Equal(Enumerable.Range(1, count).Select(n => (long)n), read.Select(f => f.Relay)); // no gap, in order
                Assert.Contains($"gaps=0", consumers[i].Output, StringComparison.Ordinal);
                Assert.Contains($"lagged=0", consumers[i].Lines.Last(l => l.StartsWith("SUMMARY", StringComparison.Ordinal)), StringComparison.Ordinal);
            }

            Assert.Equal(reads[0], reads[1]);
            Assert.Equal(reads[0], reads[2]);

            // The venue's own sequence per topic is gapless too: nothing was lost between the venue and the consumers.
            foreach (var topic in reads[0].Where(f => f.What.Contains(':', StringComparison.Ordinal)).GroupBy(f => f.What.Split(':')[0]))
            {
                var seqs = topic.Select(f => long.Parse(f.What.Split(':')[1], CultureInfo.InvariantCulture)).ToList();
                Assert.Equal(Enumerable.Range((int)seqs[0], seqs.Count).Select(n => (long)n), seqs);
            }
        }
        finally
        {
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_killed_consumer_resumes_from_its_position_without_a_gap(bool durable)
    {
        await using var venue = await VenueLog.StartAsync();
        var feed = TestSetup.NewFeed(durable ? "kill-durable" : "kill-ordered");
        await using var relay = ChildProcess.Start("Relay", RelayArgs(nats.Server.Url, feed, venue.Host.WebSocketUri, "gw"));
        await relay.WaitForLineAsync(Active, Start, "ROLE Active");

        var positionFile = Path.Combine(Path.GetTempPath(), $"{feed}.position");
        string[] mode = durable ? ["--durable", "desk"] : ["--position-file", positionFile];
        long lastBefore;
        await using (var first = ChildProcess.Start("ConsoleSubscriber", ["--from-nats", nats.Server.Url, "--feed", feed, "--frames", .. mode]))
        {
            await TestSetup.EventuallyAsync(() => Frames(first).Count >= 100 || first.HasExited, Start, () => first.Tail(20));
            await Task.Delay(500); // a few acknowledgement intervals (durable) and position writes (ordered) go by
            first.Kill(); // SIGKILL: no summary, no final acknowledgement, no final position write
            await first.WaitForExitAsync(Start);
            lastBefore = Frames(first)[^1].Relay;
        }

        var stored = durable ? (FeedPosition?)null : FeedPosition.TryParse(await File.ReadAllTextAsync(positionFile), out var p) ? p : null;
        await using var second = ChildProcess.Start("ConsoleSubscriber", ["--from-nats", nats.Server.Url, "--feed", feed, "--frames", "--count", "100", .. mode]);
        Assert.Equal(0, await second.WaitForExitAsync(Start));
        var after = Frames(second);
        Assert.Equal(100, after.Count);
        Assert.Equal(Enumerable.Range((int)after[0].Relay, 100).Select(n => (long)n), after.Select(f => f.Relay));
        if (durable)
        {
            // JetStream kept the position: it resumes at or before the next frame (frames read since the last
            // acknowledgement come again), never after it.
            Assert.True(after[0].Relay > 1 && after[0].Relay <= lastBefore + 1, $"resumed at {after[0].Relay}, last read {lastBefore}");
        }
        else
        {
            Assert.NotNull(stored);
            Assert.Equal(stored.Value.RelaySequence + 1, after[0].Relay); // exactly after the stored position
            Assert.InRange(stored.Value.RelaySequence, 1, lastBefore);
        }

        Assert.Contains("gaps=0", second.Output, StringComparison.Ordinal);
        File.Delete(positionFile);
    }

    [Fact]
    public async Task Killing_the_active_relay_hands_the_venue_connection_to_the_standby_within_the_bound()
    {
        await using var venue = await VenueLog.StartAsync();
        var feed = TestSetup.NewFeed("failover");
        await using var a = ChildProcess.Start("Relay", RelayArgs(nats.Server.Url, feed, venue.Host.WebSocketUri, "a"));
        await a.WaitForLineAsync(Active, Start, "A active");
        await using var b = ChildProcess.Start("Relay", RelayArgs(nats.Server.Url, feed, venue.Host.WebSocketUri, "b"));
        await b.WaitForLineAsync(l => l.StartsWith("ROLE Standby", StringComparison.Ordinal), Start, "B standby");

        await using var consumer = await NatsFeedConsumer.StartAsync(Harness.FeedOptions(nats.Server.Url, feed));
        var phases = new List<LifecycleSnapshot>();
        using var watch = consumer.Lifecycle.Subscribe(new Observer(s => { lock (phases) { phases.Add(s); } }));
        await consumer.Lifecycle.WaitUntilUpAsync().AsTask().WaitAsync(Start);
        await a.WaitForLineAsync(l => Acked(l) >= 200, Start, "A acknowledged 200 frames");

        a.Kill();
        long killedAt = Environment.TickCount64;
        await a.WaitForExitAsync(Start);
        long ackedByA = a.Lines.Select(Acked).Max();

        var activeLine = await b.WaitForLineAsync(Active, Start, "B active");
        long takeoverMs = b.TimedLines.First(l => l.Line == activeLine).At - killedAt;
        await TestSetup.EventuallyAsync(() => venue.Sessions.Count >= 2, Start, venue.Describe);
        long venueMs = venue.Sessions[1].Opened - killedAt;
        await b.WaitForLineAsync(l => Acked(l) >= ackedByA + 100, Start, "B publishing");
        var resumed = await consumer.Lifecycle.WaitAsync(s => s.IsUp && s.Epoch >= 1).AsTask().WaitAsync(Start);

        var bound = Lease.TakeoverBound;
        output.WriteLine($"kill -9 of the active relay: standby active after {takeoverMs} ms, its venue session open after {venueMs} ms (bound {bound.TotalMilliseconds} ms + one connect); sessions {venue.Describe()}; max overlap {venue.MaxOverlapMs()} ms");

        // The standby holds the venue connection within the bound (+ 1.5 s for process and connect latency on a loaded 2-core machine).
        Assert.InRange(takeoverMs, 0, (long)bound.TotalMilliseconds + 1_500);
        Assert.InRange(venueMs, 0, (long)bound.TotalMilliseconds + 1_500);

        // Never two venue sessions for longer than the bound (a killed process's socket closes at once: none).
        Assert.InRange(venue.MaxOverlapMs(), 0, (long)bound.TotalMilliseconds);

        // No frame JetStream acknowledged is lost: every sequence up to A's last acknowledged one is stored, in order,
        // and B continues the sequence on the next epoch and generation.
        var stored = await Harness.ReadStreamAsync(nats.Server.Url, new NatsFeedLayout(feed));
        var sequences = stored.Select(s => s.RelaySequence).ToList();
        Assert.Equal(Enumerable.Range(1, sequences.Count).Select(n => (long)n), sequences);
        Assert.True(sequences.Count >= ackedByA + 100, $"{sequences.Count} stored, A acknowledged {ackedByA}");
        var firstOfB = stored.First(s => s.Generation == 2);
        Assert.True(firstOfB.RelaySequence <= ackedByA + 1 + 1024, "B continues right after what A stored");
        Assert.Equal(stored.Where(s => s.Generation == 1).Max(s => s.Epoch) + 1, firstOfB.Epoch); // the takeover is one epoch advance

        // Consumers saw an ordinary reconnect: down, then Resumed on the next epoch, no gap.
        Assert.Equal(ConnectionPhase.Resumed, resumed.Phase);
        lock (phases)
        {
            Assert.Contains(phases, s => s.Phase == ConnectionPhase.Reconnecting);
        }

        Assert.Equal(0, consumer.Stats.GapFrames);
    }

    [Fact]
    [Trait("Invariant", "Relay.R7")]
    public async Task A_stalled_active_relay_fences_itself_before_the_standby_connects()
    {
        await using var venue = await VenueLog.StartAsync();
        var feed = TestSetup.NewFeed("stall");
        await using var proxy = ChaosProxy.Start(nats.Server.EndPoint);
        await using var a = ChildProcess.Start("Relay", RelayArgs($"nats://127.0.0.1:{proxy.Port}", feed, venue.Host.WebSocketUri, "a"));
        await a.WaitForLineAsync(Active, Start, "A active");
        await using var b = ChildProcess.Start("Relay", RelayArgs(nats.Server.Url, feed, venue.Host.WebSocketUri, "b"));
        await b.WaitForLineAsync(l => l.StartsWith("ROLE Standby", StringComparison.Ordinal), Start, "B standby");
        await a.WaitForLineAsync(l => Acked(l) >= 100, Start, "A publishing");

        // A's link to NATS goes silent (TCP stays up): it cannot renew, so it must fence itself.
        proxy.HalfOpen(Direction.Both);
        long stalledAt = Environment.TickCount64;
        await a.WaitForLineAsync(l => l.StartsWith("ROLE Fenced", StringComparison.Ordinal) || l.StartsWith("ROLE Standby", StringComparison.Ordinal) && a.Lines.Any(Active), Start, "A fenced");
        var activeLine = await b.WaitForLineAsync(Active, Start, "B active");
        long takeoverMs = b.TimedLines.First(l => l.Line == activeLine).At - stalledAt;
        await TestSetup.EventuallyAsync(() => venue.Sessions.Count >= 2 && venue.Sessions[0].Closed is not null, Start, venue.Describe);
        var sessions = venue.Sessions;
        long aClosedMs = sessions[0].Closed!.Value - stalledAt;
        long bOpenedMs = sessions[1].Opened - stalledAt;
        output.WriteLine($"stall of the active relay: its venue session closed after {aClosedMs} ms (fence {Lease.FenceAfter.TotalMilliseconds} ms), the standby's opened after {bOpenedMs} ms (takeover {takeoverMs} ms; bound {Lease.TakeoverBound.TotalMilliseconds} ms); max overlap {venue.MaxOverlapMs()} ms");

        Assert.True(sessions[0].Closed <= sessions[1].Opened, $"the two venue sessions overlapped: {venue.Describe()}");
        Assert.InRange(takeoverMs, 0, (long)Lease.TakeoverBound.TotalMilliseconds + 1_500);
        await b.WaitForLineAsync(l => Acked(l) > 0 && a.Lines.Select(Acked).Max() < Acked(l), Start, "B publishing past A");
    }

    private sealed class Observer(Action<LifecycleSnapshot> next) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(LifecycleSnapshot value) => next(value);
    }
}

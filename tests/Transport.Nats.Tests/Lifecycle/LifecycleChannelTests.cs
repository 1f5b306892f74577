using Microsoft.Extensions.Logging.Abstractions;
using Transport.Nats.Lifecycle;

namespace Transport.Nats.Tests.Lifecycle;

public sealed class LifecycleChannelTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private sealed class Recorder : IObserver<LifecycleSnapshot>
    {
        public readonly List<LifecycleSnapshot> Seen = [];
        public readonly TaskCompletionSource Completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Func<LifecycleSnapshot, bool>? Throw;
        public int Thread;

        public void OnCompleted() => Completed.TrySetResult();

        public void OnError(Exception error)
        {
        }

        public void OnNext(LifecycleSnapshot value)
        {
            Thread = Environment.CurrentManagedThreadId;
            lock (Seen)
            {
                Seen.Add(value);
            }

            if (Throw?.Invoke(value) == true)
            {
                throw new InvalidOperationException("observer bug");
            }
        }
    }

    private static LifecycleChannel NewChannel() => new(LifecycleSnapshot.Initial, NullLogger.Instance);

    [Fact]
    [Trait("Invariant", "Channel.C1")]
    public async Task C1_observers_see_the_current_snapshot_then_newer_ones_in_order()
    {
        var channel = NewChannel();
        channel.Publish(s => s with { Phase = ConnectionPhase.Connected });
        using var blocked = new ManualResetEventSlim(false);
        var recorder = new Recorder { Throw = s => { if (s.Version == 1) { blocked.Wait(Bound); } return false; } };
        using var _ = channel.Subscribe(recorder);
        await TestSetupWait(() => { lock (recorder.Seen) { return recorder.Seen.Count > 0; } });

        // The observer is stuck in OnNext: publishing never waits for it.
        var publishing = Task.Run(() =>
        {
            for (int i = 0; i < 50; i++)
            {
                channel.Publish(s => s with { TotalLagged = s.TotalLagged + 1 });
            }
        });
        await publishing.WaitAsync(Bound);
        Assert.Equal(51, channel.Current.Version);
        blocked.Set();

        await TestSetupWait(() => { lock (recorder.Seen) { return recorder.Seen[^1].Version == 51; } });
        lock (recorder.Seen)
        {
            Assert.Equal(1, recorder.Seen[0].Version);
            Assert.True(recorder.Seen.Zip(recorder.Seen.Skip(1)).All(p => p.First.Version < p.Second.Version));
            Assert.True(recorder.Seen.Count < 51, "a blocked observer is coalesced: it sees fewer, newer snapshots");
        }
    }

    [Fact]
    [Trait("Invariant", "Channel.C2")]
    public async Task C2_a_throwing_observer_is_dropped_and_the_others_carry_on()
    {
        var channel = NewChannel();
        var bad = new Recorder { Throw = s => s.Version >= 1 };
        var good = new Recorder();
        using var a = channel.Subscribe(bad);
        using var b = channel.Subscribe(good);
        channel.Publish(s => s with { Phase = ConnectionPhase.Connected });
        await TestSetupWait(() => { lock (bad.Seen) { return bad.Seen.Any(s => s.Version == 1); } });
        channel.Publish(s => s with { Phase = ConnectionPhase.Reconnecting });
        await TestSetupWait(() => { lock (good.Seen) { return good.Seen.Any(s => s.Version == 2); } });
        lock (bad.Seen)
        {
            Assert.DoesNotContain(bad.Seen, s => s.Version == 2);
        }
    }

    [Fact]
    [Trait("Invariant", "Channel.C3")]
    public async Task C3_waiters_see_every_snapshot_in_order_and_a_throwing_predicate_faults_only_its_wait()
    {
        var channel = NewChannel();
        var versions = new List<long>();
        var all = channel.WaitAsync(s =>
        {
            lock (versions)
            {
                versions.Add(s.Version);
            }

            return s.Version == 5;
        }).AsTask();
        var throwing = channel.WaitAsync(s => s.Version == 2 ? throw new InvalidOperationException("predicate bug") : false).AsTask();
        var phase = channel.WaitForPhaseAsync(ConnectionPhase.Resumed).AsTask();
        for (int i = 0; i < 5; i++)
        {
            channel.Publish(s => s with { Phase = i == 3 ? ConnectionPhase.Resumed : ConnectionPhase.Reconnecting });
        }

        Assert.Equal(5, (await all.WaitAsync(Bound)).Version);
        lock (versions)
        {
            Assert.Equal([0L, 1, 2, 3, 4, 5], versions);
        }

        await Assert.ThrowsAsync<InvalidOperationException>(() => throwing.WaitAsync(Bound));
        Assert.Equal(4, (await phase.WaitAsync(Bound)).Version);
    }

    [Fact]
    [Trait("Invariant", "Channel.C4")]
    public async Task C4_terminal_snapshot_completes_observers_and_waits()
    {
        var channel = NewChannel();
        var recorder = new Recorder();
        using var _ = channel.Subscribe(recorder);
        var never = channel.WaitForPhaseAsync(ConnectionPhase.Resumed).AsTask();
        channel.Publish(s => s with { Phase = ConnectionPhase.Closed });
        channel.Publish(s => s with { Phase = ConnectionPhase.Connected }); // ignored: after the terminal one
        await recorder.Completed.Task.WaitAsync(Bound);
        await channel.Completion.WaitAsync(Bound);
        Assert.Equal(ConnectionPhase.Closed, channel.Current.Phase);
        var error = await Assert.ThrowsAsync<TransportException>(() => never.WaitAsync(Bound));
        Assert.Equal(TransportErrorKind.Shutdown, error.Kind);
    }

    private static Task TestSetupWait(Func<bool> condition) =>
        Infrastructure.TestSetup.EventuallyAsync(condition, Bound, () => "the observer did not see the expected snapshots");
}

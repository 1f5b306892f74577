using Microsoft.Extensions.Logging;
using Transport.Mock;
using Transport.Tests.Telemetry;
using Transport.WebSockets.Connection;
using Transport.WebSockets.Lifecycle;
using Transport.WebSockets.Telemetry;

namespace Transport.Tests.Connection;

/// <summary>Every named transition from every phase: the allowed ones change the phase, the rest are refused.</summary>
public sealed class PhaseMachineTests
{
    private static readonly ConnectionPhase[] Phases = Enum.GetValues<ConnectionPhase>();

    private static readonly string[] Transitions =
        ["Connected", "Resumed", "Dropped", "WentStale", "Freshened", "TerminatedUnrecoverable", "TerminatedClosed", "AttemptFailed"];

    // The transition table, written out independently of the implementation.
    private static readonly Dictionary<(ConnectionPhase From, string Transition), ConnectionPhase> Allowed = new()
    {
        [(ConnectionPhase.Connecting, "Connected")] = ConnectionPhase.Connected,
        [(ConnectionPhase.Reconnecting, "Resumed")] = ConnectionPhase.Resumed,
        [(ConnectionPhase.Connected, "Dropped")] = ConnectionPhase.Reconnecting,
        [(ConnectionPhase.Resumed, "Dropped")] = ConnectionPhase.Reconnecting,
        [(ConnectionPhase.Stale, "Dropped")] = ConnectionPhase.Reconnecting,
        [(ConnectionPhase.Connected, "WentStale")] = ConnectionPhase.Stale,
        [(ConnectionPhase.Resumed, "WentStale")] = ConnectionPhase.Stale,
        [(ConnectionPhase.Stale, "Freshened")] = ConnectionPhase.Connected, // Stale is reached at epoch 0 here
        [(ConnectionPhase.Connecting, "TerminatedUnrecoverable")] = ConnectionPhase.Unrecoverable,
        [(ConnectionPhase.Connected, "TerminatedUnrecoverable")] = ConnectionPhase.Unrecoverable,
        [(ConnectionPhase.Stale, "TerminatedUnrecoverable")] = ConnectionPhase.Unrecoverable,
        [(ConnectionPhase.Reconnecting, "TerminatedUnrecoverable")] = ConnectionPhase.Unrecoverable,
        [(ConnectionPhase.Resumed, "TerminatedUnrecoverable")] = ConnectionPhase.Unrecoverable,
        [(ConnectionPhase.Connecting, "TerminatedClosed")] = ConnectionPhase.Closed,
        [(ConnectionPhase.Connected, "TerminatedClosed")] = ConnectionPhase.Closed,
        [(ConnectionPhase.Stale, "TerminatedClosed")] = ConnectionPhase.Closed,
        [(ConnectionPhase.Reconnecting, "TerminatedClosed")] = ConnectionPhase.Closed,
        [(ConnectionPhase.Resumed, "TerminatedClosed")] = ConnectionPhase.Closed,
        [(ConnectionPhase.Connecting, "AttemptFailed")] = ConnectionPhase.Connecting,
        [(ConnectionPhase.Reconnecting, "AttemptFailed")] = ConnectionPhase.Reconnecting,
    };

    public static TheoryData<ConnectionPhase, string, ConnectionPhase> AllowedCases()
    {
        var data = new TheoryData<ConnectionPhase, string, ConnectionPhase>();
        foreach (var ((from, transition), to) in Allowed)
        {
            data.Add(from, transition, to);
        }

        return data;
    }

    public static TheoryData<ConnectionPhase, string> RefusedCases()
    {
        var data = new TheoryData<ConnectionPhase, string>();
        foreach (var from in Phases)
        {
            foreach (var transition in Transitions)
            {
                if (!Allowed.ContainsKey((from, transition)))
                {
                    data.Add(from, transition);
                }
            }
        }

        return data;
    }

    [Fact]
    public void The_table_covers_every_phase_and_transition()
    {
        // 7 phases x 8 transitions: 20 allowed, 36 refused.
        Assert.Equal(56, AllowedCases().Count + RefusedCases().Count);
        Assert.Equal(20, AllowedCases().Count);
    }

    [Theory]
    [Trait("Invariant", "Phase.P1")]
    [Trait("Invariant", "Phase.P2")]
    [MemberData(nameof(AllowedCases))]
    public void Allowed_transition_publishes_traces_and_logs_once(ConnectionPhase from, string transition, ConnectionPhase to)
    {
        using var rig = new Rig(strict: true);
        rig.DriveTo(from);
        var before = rig.Lifecycle.Current;
        var logsBefore = rig.Logs.Entries.Count;
        var tracesBefore = rig.TraceEvents;

        Assert.True(rig.Apply(transition));

        var after = rig.Lifecycle.Current;
        Assert.Equal(to, after.Phase);
        Assert.Equal(before.Version + 1, after.Version);
        // Spans cover down-cycles only (Telemetry.T1): a Stale/Fresh flip while the feed is up has
        // no open span to trace into; it is published and logged.
        var traced = transition is not ("WentStale" or "Freshened");
        Assert.Equal(tracesBefore + (traced ? 1 : 0), rig.TraceEvents);
        if (transition != "TerminatedUnrecoverable")
        {
            // Unrecoverable is logged by the actor with its cause (Unrecoverable or ActorFailed) before it terminates.
            Assert.True(rig.Logs.Entries.Count > logsBefore, "every transition writes a log line");
        }
    }

    [Theory]
    [Trait("Invariant", "Phase.P1")]
    [Trait("Invariant", "Phase.P3")]
    [MemberData(nameof(RefusedCases))]
    public void Refused_transition_throws_when_strict_and_publishes_nothing(ConnectionPhase from, string transition)
    {
        using var rig = new Rig(strict: true);
        rig.DriveTo(from);
        var before = rig.Lifecycle.Current;
        var tracesBefore = rig.TraceEvents;

        var error = Assert.Throws<InvalidOperationException>(() => rig.Apply(transition));

        Assert.Contains(from.ToString(), error.Message);
        Assert.Same(before, rig.Lifecycle.Current);
        Assert.Equal(tracesBefore, rig.TraceEvents);
    }

    [Theory]
    [Trait("Invariant", "Phase.P1")]
    [Trait("Invariant", "Phase.P3")]
    [MemberData(nameof(RefusedCases))]
    public void Refused_transition_logs_an_error_when_lenient_and_publishes_nothing(ConnectionPhase from, string transition)
    {
        using var rig = new Rig(strict: false);
        rig.DriveTo(from);
        var before = rig.Lifecycle.Current;

        Assert.False(rig.Apply(transition));

        Assert.Same(before, rig.Lifecycle.Current);
        var refused = Assert.Single(rig.Logs.Entries, e => e.EventId.Name == "TransitionRefused");
        Assert.Equal(LogLevel.Error, refused.Level);
    }

    [Fact]
    [Trait("Invariant", "Phase.P1")]
    public void Freshened_returns_to_Resumed_after_a_reconnect()
    {
        using var rig = new Rig(strict: true);
        rig.DriveTo(ConnectionPhase.Resumed);
        Assert.True(rig.Machine.WentStale(TimeSpan.FromSeconds(5)));

        Assert.True(rig.Machine.Freshened());

        Assert.Equal(ConnectionPhase.Resumed, rig.Lifecycle.Current.Phase);
        Assert.Equal(1, rig.Lifecycle.Current.Epoch);
    }

    [Fact]
    public void Update_that_changes_the_phase_is_refused()
    {
        using var rig = new Rig(strict: true);

        Assert.Throws<InvalidOperationException>(() => rig.Machine.Update(s => s with { Phase = ConnectionPhase.Connected }));
    }

    [Fact]
    public void Update_changes_other_fields_without_a_trace_event()
    {
        using var rig = new Rig(strict: true);
        var traces = rig.TraceEvents;

        rig.Machine.Update(s => s with { Attempts = 3 });

        Assert.Equal(3, rig.Lifecycle.Current.Attempts);
        Assert.Equal(traces, rig.TraceEvents);
    }

    [Fact]
    [Trait("Invariant", "Phase.P1")]
    [Trait("Invariant", "Phase.P2")]
    public async Task Concurrent_stale_and_fresh_flips_stay_consistent()
    {
        // Production calls WentStale from the liveness loop and Freshened from the receive loop
        // on different threads: check and publish must be atomic, so each success is one version
        // and the flips alternate.
        using var rig = new Rig(strict: false);
        rig.DriveTo(ConnectionPhase.Connected);
        var startVersion = rig.Lifecycle.Current.Version;
        const int Rounds = 20_000;
        var stale = 0;
        var fresh = 0;
        using var barrier = new Barrier(2);
        var a = Task.Factory.StartNew(() =>
        {
            barrier.SignalAndWait();
            for (var i = 0; i < Rounds; i++)
            {
                if (rig.Machine.WentStale(TimeSpan.FromSeconds(1)))
                {
                    stale++;
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var b = Task.Factory.StartNew(() =>
        {
            barrier.SignalAndWait();
            for (var i = 0; i < Rounds; i++)
            {
                if (rig.Machine.Freshened())
                {
                    fresh++;
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await Task.WhenAll(a, b).WaitAsync(TimeSpan.FromSeconds(60));

        var now = rig.Lifecycle.Current;
        Assert.True(stale == fresh || stale == fresh + 1, $"stale {stale}, fresh {fresh}");
        Assert.Equal(stale == fresh ? ConnectionPhase.Connected : ConnectionPhase.Stale, now.Phase);
        Assert.Equal(startVersion + stale + fresh, now.Version);
        Assert.Equal(stale + fresh, rig.Logs.Entries.Count(e => e.EventId.Name is "Stale" or "StaleRecovered"));
    }

    private sealed class Rig : IDisposable
    {
        private readonly TelemetryCapture _capture;
        private readonly ConnectionTelemetry _telemetry;

        public Rig(bool strict)
        {
            var name = "phase-" + Guid.NewGuid().ToString("N");
            _capture = new TelemetryCapture(name);
            var clock = new ManualTimeProvider();
            _telemetry = new ConnectionTelemetryFactory(_capture.Meter).Create(name, clock, () => 0, () => 0, () => 0);
            var logger = Logs.CreateLogger("test");
            Lifecycle = new LifecyclePublisher(new ManualSpawner(), logger);
            Machine = new PhaseMachine(Lifecycle, _telemetry, logger, name, strict);
            Clock = clock;
        }

        public CapturingLoggerFactory Logs { get; } = new();

        public LifecyclePublisher Lifecycle { get; }

        public PhaseMachine Machine { get; }

        public ManualTimeProvider Clock { get; }

        public int TraceEvents => _capture.Started.Sum(a => a.Events.Count());

        public void DriveTo(ConnectionPhase phase)
        {
            switch (phase)
            {
                case ConnectionPhase.Connecting:
                    break;
                case ConnectionPhase.Connected:
                    Machine.Connected(0, 1, DateTimeOffset.UnixEpoch);
                    break;
                case ConnectionPhase.Stale:
                    Machine.Connected(0, 1, DateTimeOffset.UnixEpoch);
                    Machine.WentStale(TimeSpan.FromSeconds(5));
                    break;
                case ConnectionPhase.Reconnecting:
                    Machine.Connected(0, 1, DateTimeOffset.UnixEpoch);
                    Machine.Dropped(SessionEnd.Forced, 0, Clock.GetUtcNow());
                    break;
                case ConnectionPhase.Resumed:
                    Machine.Connected(0, 1, DateTimeOffset.UnixEpoch);
                    Machine.Dropped(SessionEnd.Forced, 0, Clock.GetUtcNow());
                    Machine.Resumed(1, 2, DateTimeOffset.UnixEpoch);
                    break;
                case ConnectionPhase.Unrecoverable:
                    Machine.Terminated(ConnectionPhase.Unrecoverable, false, TransportException.Shutdown(), 0, Clock.GetUtcNow());
                    break;
                case ConnectionPhase.Closed:
                    Machine.Terminated(ConnectionPhase.Closed, false, null, 0, Clock.GetUtcNow());
                    break;
            }

            Assert.Equal(phase, Lifecycle.Current.Phase);
        }

        public bool Apply(string transition) => transition switch
        {
            "Connected" => Machine.Connected(0, 1, DateTimeOffset.UnixEpoch),
            "Resumed" => Machine.Resumed(Lifecycle.Current.Epoch + 1, 2, DateTimeOffset.UnixEpoch),
            "Dropped" => Machine.Dropped(SessionEnd.Failed(TransportException.Timeout("test")), Lifecycle.Current.Epoch, Clock.GetUtcNow()),
            "WentStale" => Machine.WentStale(TimeSpan.FromSeconds(5)),
            "Freshened" => Machine.Freshened(),
            "TerminatedUnrecoverable" => Machine.Terminated(ConnectionPhase.Unrecoverable, false, TransportException.Shutdown(), 0, Clock.GetUtcNow()),
            "TerminatedClosed" => Machine.Terminated(ConnectionPhase.Closed, false, null, 0, Clock.GetUtcNow()),
            "AttemptFailed" => Machine.AttemptFailed(TransportException.Timeout("test"), 1, TimeSpan.FromSeconds(1)),
            _ => throw new ArgumentOutOfRangeException(nameof(transition), transition, null),
        };

        public void Dispose()
        {
            _telemetry.Dispose();
            _capture.Dispose();
        }
    }
}

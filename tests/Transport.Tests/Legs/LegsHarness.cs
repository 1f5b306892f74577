using System.Buffers.Text;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;
using Transport.Mock;
using Transport.WebSockets;
using Transport.WebSockets.Legs;

namespace Transport.Tests.Legs;

/// <summary>
/// Test frames "TOPIC:SEQ" are keyed by (topic, seq); anything else is unkeyed. Parsed from the payload's
/// bytes without allocating, as a real selector should.
/// </summary>
internal static class TextKeys
{
    public static readonly FrameKeySelector Selector = static (in Frame frame, out DedupeKey key) =>
    {
        var bytes = frame.Payload.Span;
        int colon = bytes.IndexOf((byte)':');
        if (colon > 0 && Utf8Parser.TryParse(bytes[(colon + 1)..], out long seq, out int consumed) && consumed == bytes.Length - colon - 1)
        {
            key = new DedupeKey(DedupeKey.StreamOf(bytes[..colon]), seq);
            return true;
        }

        key = default;
        return false;
    };

    public static string Key(string topic, long seq) => $"{topic}:{seq}";
}

/// <summary>
/// A redundant connection over one connector (one attempt gate) on one scripted leaf, a fake clock and a
/// pumped spawner. Each leg has its own URI (<c>ws://{leg}.venue.test/ws</c>) and an initializer that sends
/// <c>login:{leg}:{epoch}</c>, so a socket is recognised by its first frame.
/// </summary>
internal sealed class LegsHarness
{
    public static readonly string[] Names = ["a", "b", "c", "d"];

    public LegsHarness(
        int legs = 2,
        Action<TransportOptionsBuilder>? configure = null,
        Func<RedundantConnectionOptions, RedundantConnectionOptions>? options = null,
        Func<ScriptedConnector, ILeafConnector>? wrapLeaf = null,
        ISessionInitializer? login = null,
        Meter? meter = null,
        Action<ScriptedConnector>? script = null,
        IFailureClassifier? classifier = null)
    {
        (Leaf, Clock, Spawner) = MockHarness.Create();
        Spawner.UnpumpedWaitTimeout = TimeSpan.FromSeconds(60);
        script?.Invoke(Leaf);
        var builder = new WebSocketTransportBuilder()
            .Configure(o =>
            {
                o.WithUri("ws://venue.test/ws")
                    .WithName("venue")
                    .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), useJitter: false)
                    .WithConnectTimeout(TimeSpan.FromSeconds(5))
                    .WithCloseTimeout(TimeSpan.FromSeconds(2));
                configure?.Invoke(o);
            })
            .UseLeaf(wrapLeaf?.Invoke(Leaf) ?? Leaf)
            .WithTimeProvider(Clock)
            .WithSpawner(Spawner)
            .WithRandom(() => 0.5);
        if (login is not null)
        {
            builder.WithSessionInitializer(login);
        }

        if (meter is not null)
        {
            builder.WithMeter(meter);
        }

        if (classifier is not null)
        {
            builder.WithClassifier(classifier);
        }

        Connector = builder.Build();
        var legOptions = Enumerable.Range(0, legs).Select(i => new LegOptions
        {
            Name = Names[i],
            Uri = new Uri($"ws://{Names[i]}.venue.test/ws"),
            Initializer = SessionInitializers.From((ctx, ct) => ctx.Sink.SendAsync(Frame.Text($"login:{Names[i]}:{ctx.Epoch}"), ct)),
        }).ToList();
        Options = new RedundantConnectionOptions { Name = "feed", Legs = legOptions, KeySelector = TextKeys.Selector };
        if (options is not null)
        {
            Options = options(Options);
        }

        Redundant = new RedundantConnection(Options, Connector);
        Pump();
    }

    public ScriptedConnector Leaf { get; }

    public FakeTimeProvider Clock { get; }

    public ManualSpawner Spawner { get; }

    public ReconnectingConnector Connector { get; }

    public RedundantConnectionOptions Options { get; }

    public RedundantConnection Redundant { get; }

    public LifecycleSnapshot Aggregate => Redundant.Lifecycle.Current;

    /// <summary>The newest socket of leg <paramref name="leg"/> (recognised by its login frame).</summary>
    public MockSocket Socket(string leg) => Leaf.Sockets.Last(s => IsOf(s, leg));

    public List<MockSocket> Sockets(string leg) => [.. Leaf.Sockets.Where(s => IsOf(s, leg))];

    public void Pump() => Spawner.RunUntilIdle();

    /// <summary>Starts <paramref name="work"/> on the pumped scheduler, so its awaits come back there (deterministic).</summary>
    public Task OnPump(Func<Task> work) => Spawner.Spawn(work);

    /// <inheritdoc cref="OnPump(Func{Task})"/>
    public async Task<T> OnPump<T>(Func<Task<T>> work)
    {
        Task<T>? inner = null;
        await Spawner.Spawn(() => inner = work());
        return await inner!;
    }

    public void Advance(TimeSpan delta)
    {
        Clock.Advance(delta);
        Pump();
    }

    /// <summary>Delivers <c>topic:seq</c> for each seq on leg <paramref name="leg"/>'s socket.</summary>
    public void Deliver(string leg, string topic, params long[] seqs)
    {
        var socket = Socket(leg);
        foreach (var seq in seqs)
        {
            socket.DeliverText(TextKeys.Key(topic, seq));
        }
    }

    public static long[] Range(long from, long to) => [.. Enumerable.Range((int)from, (int)(to - from + 1)).Select(i => (long)i)];

    public List<Frame> Drain()
    {
        var frames = new List<Frame>();
        while (Redundant.Source.TryRead(out var frame))
        {
            frames.Add(frame);
        }

        return frames;
    }

    public List<string> DrainTexts() => [.. Drain().Select(f => f.GetText())];

    private static bool IsOf(MockSocket socket, string leg) => socket.SentTexts.Any(t => t.StartsWith($"login:{leg}:", StringComparison.Ordinal));
}

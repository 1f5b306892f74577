using Transport.Mock;
using Transport.WebSockets;
using Transport.WebSockets.Pool;

namespace Transport.Tests.Pool;

/// <summary>A grammar for tests: one frame "sub:a,b,c" / "unsub:a" per call.</summary>
internal sealed class TextProtocol : ISubscriptionProtocol
{
    public IReadOnlyList<Frame> Subscribe(IReadOnlyList<string> keys) => [Frame.Text("sub:" + string.Join(',', keys))];

    public IReadOnlyList<Frame> Unsubscribe(IReadOnlyList<string> keys) => [Frame.Text("unsub:" + string.Join(',', keys))];
}

/// <summary>A pool over scripted connectors (one per slot), one manual clock and one pumped spawner.</summary>
internal sealed class PoolHarness
{
    public PoolHarness(int cap, int max, Action<int, ScriptedConnector>? script = null)
    {
        Clock = new ManualTimeProvider();
        Spawner = new ManualSpawner();
        var classifier = DefaultFailureClassifier.RefinedBy(e => e.CloseCode == 4003 ? FailureClass.Permanent : null);
        Pool = new ConnectionPool(
            new ConnectionPoolOptions { Name = "venue", PerConnectionCap = cap, MaxConnections = max },
            new TextProtocol(),
            async (request, ct) =>
            {
                var connector = new ScriptedConnector();
                script?.Invoke(request.Index, connector);
                Connectors.Add(connector);
                var stack = new WebSocketTransportBuilder()
                    .Configure(o => o.WithUri("ws://venue.test/ws")
                        .WithName(request.Name)
                        .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), useJitter: false)
                        .WithConnectTimeout(TimeSpan.FromSeconds(5))
                        .WithCloseTimeout(TimeSpan.FromSeconds(2))
                        .WithPermanentRetries(0))
                    .UseLeaf(connector)
                    .WithClassifier(classifier)
                    .WithTimeProvider(Clock)
                    .WithSpawner(Spawner)
                    .WithRandom(() => 0.5)
                    .Build();
                return await stack.ConnectAsync(ct);
            },
            Spawner);
    }

    public ManualTimeProvider Clock { get; }

    public ManualSpawner Spawner { get; }

    public ConnectionPool Pool { get; }

    /// <summary>Every connector the factory made, in order of opening.</summary>
    public List<ScriptedConnector> Connectors { get; } = [];

    public static IEnumerable<string> Keys(int from, int count) => Enumerable.Range(from, count).Select(i => $"k{i:000}");

    public void Add(IEnumerable<string> keys)
    {
        var adding = Pool.AddAsync(keys).AsTask();
        Pump();
        adding.GetAwaiter().GetResult();
    }

    public void Remove(IEnumerable<string> keys)
    {
        var removing = Pool.RemoveAsync(keys).AsTask();
        Pump();
        removing.GetAwaiter().GetResult();
    }

    public void Pump() => Spawner.RunUntilIdle();

    public void Advance(TimeSpan delta)
    {
        Clock.Advance(delta);
        Pump();
    }

    /// <summary>The keys each subscribe frame on <paramref name="socket"/> named, in order.</summary>
    public static List<string> Subscribed(MockSocket socket) =>
        [.. socket.SentTexts.Where(t => t.StartsWith("sub:", StringComparison.Ordinal)).SelectMany(t => t[4..].Split(','))];
}

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

/// <summary>
/// A pool over one connector (so one connect-attempt gate) on one scripted leaf, one manual clock and
/// one pumped spawner. Attempts reach the leaf in a deterministic order; a socket is recognised by the
/// keys its replay named.
/// </summary>
internal sealed class PoolHarness
{
    public PoolHarness(
        int cap,
        int max,
        Action<ScriptedConnector>? script = null,
        Action<TransportOptionsBuilder>? configure = null,
        ISessionInitializer? login = null,
        ISubscriptionProtocol? protocol = null,
        PoolPlacement placement = PoolPlacement.FillFirst,
        Func<ILeafConnector, ILeafConnector>? wrapLeaf = null,
        Func<ConnectionPoolOptions, ConnectionPoolOptions>? poolOptions = null)
    {
        Clock = new ManualTimeProvider();
        Spawner = new ManualSpawner();
        Leaf = new ScriptedConnector();
        script?.Invoke(Leaf);
        var classifier = DefaultFailureClassifier.RefinedBy(e => e.CloseCode == 4003 ? FailureClass.Permanent : null);
        var builder = new WebSocketTransportBuilder()
            .Configure(o =>
            {
                o.WithUri("ws://venue.test/ws")
                    .WithName("venue")
                    .WithBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), useJitter: false)
                    .WithConnectTimeout(TimeSpan.FromSeconds(5))
                    .WithCloseTimeout(TimeSpan.FromSeconds(2))
                    .WithPermanentRetries(0);
                configure?.Invoke(o);
            })
            .UseLeaf(wrapLeaf is null ? Leaf : wrapLeaf(Leaf))
            .WithClassifier(classifier)
            .WithTimeProvider(Clock)
            .WithSpawner(Spawner)
            .WithRandom(() => 0.5);
        if (login is not null)
        {
            builder.WithSessionInitializer(login);
        }

        Connector = builder.Build();
        var options = new ConnectionPoolOptions { Name = "venue", PerConnectionCap = cap, MaxConnections = max, Placement = placement };
        Pool = new ConnectionPool(
            poolOptions is null ? options : poolOptions(options),
            protocol ?? new TextProtocol(),
            Connector,
            Spawner);
    }

    public ManualTimeProvider Clock { get; }

    public ManualSpawner Spawner { get; }

    /// <summary>The one scripted leaf every connection of the pool connects through.</summary>
    public ScriptedConnector Leaf { get; }

    public ReconnectingConnector Connector { get; }

    public ConnectionPool Pool { get; }

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

    /// <summary>The newest socket whose subscribe frames named <paramref name="key"/>.</summary>
    public MockSocket SocketWith(string key) => Leaf.Sockets.Last(s => Subscribed(s).Contains(key));

    /// <summary>Every socket whose subscribe frames named <paramref name="key"/>, oldest first.</summary>
    public List<MockSocket> SocketsWith(string key) => [.. Leaf.Sockets.Where(s => Subscribed(s).Contains(key))];

    /// <summary>The keys each subscribe frame on <paramref name="socket"/> named, in order.</summary>
    public static List<string> Subscribed(MockSocket socket) =>
        [.. socket.SentTexts.Where(t => t.StartsWith("sub:", StringComparison.Ordinal)).SelectMany(t => t[4..].Split(','))];
}

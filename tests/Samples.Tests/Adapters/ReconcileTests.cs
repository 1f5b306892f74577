using System.Text.Json;
using TradingAdapters;
using Transport;

namespace Samples.Tests.Adapters;

/// <summary>
/// Lifecycle-driven behaviours at unit level, over <see cref="FakeConnection"/>: the exact frames
/// the adapter sends, and the epoch each one is pinned to.
/// </summary>
public sealed class ReconcileTests
{
    private static readonly string[] Topics = ["BTC-USD", "ETH-USD"];

    [Theory]
    [MemberData(nameof(AdapterKinds.Both), MemberType = typeof(AdapterKinds))]
    public async Task TotalLagged_advance_requests_a_snapshot_of_every_topic_pinned_to_the_epoch(string kind)
    {
        var fake = new FakeConnection();
        var adapter = AdapterKinds.Create(kind, Topics)();
        using var stop = new CancellationTokenSource();
        var run = adapter.RunAsync(fake.Connection, stop.Token);

        // The transport runs the initializer on the new socket, then publishes the up-edge.
        await adapter.InitializeAsync(fake.Context(0), CancellationToken.None);
        fake.Publish(s => s with { Phase = ConnectionPhase.Connected, Epoch = 0, DownSince = null });
        var subscribes = new[] { await fake.NextSentAsync(), await fake.NextSentAsync() };
        foreach (var (text, options) in subscribes)
        {
            Assert.Equal(SendOptions.PinnedTo(0), options);
            var json = JsonDocument.Parse(text).RootElement;
            Assert.Equal("subscribe", json.GetProperty("op").GetString());
            fake.Push($$"""{"type":"subscribed","topics":[{{json.GetProperty("topics")[0].GetRawText()}}],"id":{{json.GetProperty("id").GetInt64()}}}""");
        }
        await Eventually.HoldsAsync(() => Topics.All(adapter.Book.IsLive), "both topics live");

        fake.Publish(s => s with { TotalLagged = 7 });

        var snapshots = new[] { await fake.NextSentAsync(), await fake.NextSentAsync() };
        Assert.All(snapshots, s => Assert.Equal(SendOptions.PinnedTo(0), s.Options));
        Assert.Equal(Topics, snapshots.Select(s => JsonDocument.Parse(s.Text).RootElement).Select(j =>
        {
            Assert.Equal("snapshot", j.GetProperty("op").GetString());
            return j.GetProperty("topic").GetString();
        }).Order());
        Assert.Equal(1, adapter.Counters.Reconciles);

        // A snapshot re-bases the sequence: the next tick must be its seq + 1, not a gap.
        fake.Push("""{"type":"snapshot","topic":"BTC-USD","seq":41,"levels":[]}""");
        fake.Push("""{"type":"tick","topic":"BTC-USD","seq":42,"price":100.5}""");
        await Eventually.HoldsAsync(() => adapter.Book.Snapshot()[0].LastSeq == 42, "BTC at seq 42");
        Assert.Equal(0, adapter.Counters.Gaps);

        await stop.CancelAsync();
        await run.WaitAsync(Eventually.Bound);
    }

    [Fact]
    public async Task A_replay_is_pinned_to_the_new_epoch()
    {
        var fake = new FakeConnection();
        var adapter = new BinanceLikeAdapter(["BTC-USD"]);
        using var stop = new CancellationTokenSource();
        var run = adapter.RunAsync(fake.Connection, stop.Token);

        await adapter.InitializeAsync(fake.Context(0), CancellationToken.None);
        fake.Publish(s => s with { Phase = ConnectionPhase.Connected });
        Assert.Equal(SendOptions.PinnedTo(0), (await fake.NextSentAsync()).Options);
        fake.Publish(s => s with { Phase = ConnectionPhase.Reconnecting });
        await adapter.InitializeAsync(fake.Context(1), CancellationToken.None);
        fake.Publish(s => s with { Phase = ConnectionPhase.Resumed, Epoch = 1 });

        var (text, options) = await fake.NextSentAsync();
        Assert.Equal(SendOptions.PinnedTo(1), options);
        Assert.Contains("\"subscribe\"", text, StringComparison.Ordinal);
        Assert.Equal(2, adapter.Counters.Replays);

        await stop.CancelAsync();
        await run.WaitAsync(Eventually.Bound);
    }
}

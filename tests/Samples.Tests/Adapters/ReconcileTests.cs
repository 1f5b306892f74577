using System.Text.Json;
using TradingAdapters;
using Transport;
using Transport.Mock;

namespace Samples.Tests.Adapters;

/// <summary>
/// Lifecycle-driven behaviours at unit level, over the shipped stack-level fake
/// (<see cref="FakeReconnectingConnection"/> with the adapter as its session initializer): the exact
/// frames the adapter sends, and the epoch each one is pinned to.
/// </summary>
public sealed class ReconcileTests
{
    private static readonly string[] Topics = ["BTC-USD", "ETH-USD"];

    [Theory]
    [MemberData(nameof(AdapterKinds.Both), MemberType = typeof(AdapterKinds))]
    public async Task TotalLagged_advance_requests_a_snapshot_of_every_topic_pinned_to_the_epoch(string kind)
    {
        var adapter = AdapterKinds.Create(kind, Topics)();
        await using var fake = new FakeReconnectingConnection(initializer: adapter);
        using var stop = new CancellationTokenSource();
        var run = adapter.RunAsync(fake.Connection, stop.Token);

        // As the transport does: the initializer runs on the new socket, then the up-edge is published.
        var up = await fake.GoUpAsync();
        Assert.Equal((ConnectionPhase.Connected, 0L), (up.Phase, up.Epoch));
        var subscribes = new[] { await NextSentAsync(fake), await NextSentAsync(fake) };
        foreach (var sent in subscribes)
        {
            Assert.Equal(SendOptions.PinnedTo(0), sent.Options);
            Assert.True(sent.ByInitializer, "the subscribe replay goes out through the initializer's pinned sink");
            var json = JsonDocument.Parse(sent.Text).RootElement;
            Assert.Equal("subscribe", json.GetProperty("op").GetString());
            fake.PushText($$"""{"type":"subscribed","topics":[{{json.GetProperty("topics")[0].GetRawText()}}],"id":{{json.GetProperty("id").GetInt64()}}}""");
        }
        await Eventually.HoldsAsync(adapter.Counters, () => Topics.All(adapter.Book.IsLive), "both topics live");

        fake.Publish(s => s with { TotalLagged = 7 });

        var snapshots = new[] { await NextSentAsync(fake), await NextSentAsync(fake) };
        Assert.All(snapshots, s => Assert.Equal(SendOptions.PinnedTo(0), s.Options));
        Assert.All(snapshots, s => Assert.False(s.ByInitializer));
        Assert.Equal(Topics, snapshots.Select(s => JsonDocument.Parse(s.Text).RootElement).Select(j =>
        {
            Assert.Equal("snapshot", j.GetProperty("op").GetString());
            return j.GetProperty("topic").GetString();
        }).Order());
        Assert.Equal(1, adapter.Counters.Reconciles);

        // A snapshot re-bases the sequence: the next tick must be its seq + 1, not a gap.
        fake.PushText("""{"type":"snapshot","topic":"BTC-USD","seq":41,"levels":[]}""");
        fake.PushText("""{"type":"tick","topic":"BTC-USD","seq":42,"price":100.5}""");
        await Eventually.HoldsAsync(adapter.Counters, () => adapter.Book.Snapshot()[0].LastSeq == 42, "BTC at seq 42");
        Assert.Equal(0, adapter.Counters.Gaps);

        await stop.CancelAsync();
        await run.WaitAsync(Eventually.Bound);
    }

    [Fact]
    public async Task A_replay_is_pinned_to_the_new_epoch()
    {
        var adapter = new BinanceLikeAdapter(["BTC-USD"]);
        await using var fake = new FakeReconnectingConnection(initializer: adapter);
        using var stop = new CancellationTokenSource();
        var run = adapter.RunAsync(fake.Connection, stop.Token);

        await fake.GoUpAsync();
        Assert.Equal(SendOptions.PinnedTo(0), (await NextSentAsync(fake)).Options);
        fake.GoDown();
        var resumed = await fake.GoUpAsync();
        Assert.Equal((ConnectionPhase.Resumed, 1L), (resumed.Phase, resumed.Epoch));

        var replay = await NextSentAsync(fake);
        Assert.Equal(SendOptions.PinnedTo(1), replay.Options);
        Assert.Equal(1, replay.Epoch);
        Assert.True(replay.ByInitializer);
        Assert.Contains("\"subscribe\"", replay.Text, StringComparison.Ordinal);
        Assert.Equal(2, adapter.Counters.Replays);

        await stop.CancelAsync();
        await run.WaitAsync(Eventually.Bound);
    }

    private static Task<SentFrame> NextSentAsync(FakeReconnectingConnection fake) =>
        fake.NextSentAsync().AsTask().WaitAsync(Eventually.Bound);
}

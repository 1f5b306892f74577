using System.Text.Json;
using TradingAdapters;
using Transport;
using Transport.Mock;

namespace Samples.Tests.Adapters;

/// <summary>
/// Lifecycle-driven behaviours at unit level, over Transport.Mock's <see cref="FakeReconnectingConnection"/>: the exact frames
/// the adapter sends, and the epoch each one is pinned to.
/// </summary>
public sealed class ReconcileTests
{
    private static readonly string[] Topics = ["BTC-USD", "ETH-USD"];

    [Theory]
    [MemberData(nameof(AdapterKinds.Both), MemberType = typeof(AdapterKinds))]
    public async Task TotalLagged_advance_requests_a_snapshot_of_every_topic_pinned_to_the_epoch(string kind)
    {
        var fake = new FakeReconnectingConnection();
        var adapter = AdapterKinds.Create(kind, Topics)(fake.Connection);
        using var stop = new CancellationTokenSource();
        var run = adapter.RunAsync(stop.Token);

        fake.GoUp(); // Connected, epoch 0
        var subscribes = new[] { await NextSentAsync(fake), await NextSentAsync(fake) };
        foreach (var sent in subscribes)
        {
            Assert.Equal(SendOptions.PinnedTo(0), sent.Options);
            var json = JsonDocument.Parse(sent.Text).RootElement;
            Assert.Equal("subscribe", json.GetProperty("op").GetString());
            fake.PushText($$"""{"type":"subscribed","topics":[{{json.GetProperty("topics")[0].GetRawText()}}],"id":{{json.GetProperty("id").GetInt64()}}}""");
        }
        await Eventually.HoldsAsync(() => Topics.All(adapter.Book.IsLive), "both topics live");

        fake.Lag(7);

        var snapshots = new[] { await NextSentAsync(fake), await NextSentAsync(fake) };
        Assert.All(snapshots, s => Assert.Equal(SendOptions.PinnedTo(0), s.Options));
        Assert.Equal(Topics, snapshots.Select(s => JsonDocument.Parse(s.Text).RootElement).Select(j =>
        {
            Assert.Equal("snapshot", j.GetProperty("op").GetString());
            return j.GetProperty("topic").GetString();
        }).Order());
        Assert.Equal(1, adapter.Counters.Reconciles);

        // A snapshot re-bases the sequence: the next tick must be its seq + 1, not a gap.
        fake.PushText("""{"type":"snapshot","topic":"BTC-USD","seq":41,"levels":[]}""");
        fake.PushText("""{"type":"tick","topic":"BTC-USD","seq":42,"price":100.5}""");
        await Eventually.HoldsAsync(() => adapter.Book.Snapshot()[0].LastSeq == 42, "BTC at seq 42");
        Assert.Equal(0, adapter.Counters.Gaps);

        await stop.CancelAsync();
        await run.WaitAsync(Eventually.Bound);
    }

    [Fact]
    public async Task A_replay_is_pinned_to_the_new_epoch()
    {
        var fake = new FakeReconnectingConnection();
        var adapter = new BinanceLikeAdapter(fake.Connection, ["BTC-USD"]);
        using var stop = new CancellationTokenSource();
        var run = adapter.RunAsync(stop.Token);

        fake.GoUp();
        Assert.Equal(SendOptions.PinnedTo(0), (await NextSentAsync(fake)).Options);
        fake.GoDown();
        Assert.Equal(1, fake.GoUp().Epoch); // Resumed

        var replay = await NextSentAsync(fake);
        Assert.Equal(SendOptions.PinnedTo(1), replay.Options);
        Assert.Equal(1, replay.Epoch);
        Assert.Contains("\"subscribe\"", replay.Text, StringComparison.Ordinal);
        Assert.Equal(2, adapter.Counters.Replays);

        await stop.CancelAsync();
        await run.WaitAsync(Eventually.Bound);
    }

    private static async Task<SentFrame> NextSentAsync(FakeReconnectingConnection fake) =>
        await fake.NextSentAsync().AsTask().WaitAsync(Eventually.Bound);
}

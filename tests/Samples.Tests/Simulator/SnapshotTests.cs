using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Simulator;

public sealed class SnapshotTests
{
    [Fact]
    public async Task Multi_MB_snapshot_on_subscribe_arrives_whole_before_the_first_tick()
    {
        const int size = 3 * 1024 * 1024;
        await using var host = await StartAsync(o =>
        {
            o.SnapshotOnSubscribe = true;
            o.SnapshotBytes = size;
        });
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);

        await client.SubscribeAsync(1, Btc);
        Assert.Equal("subscribed", (await client.ReceiveAsync()).MessageType);
        var snapshot = await client.ReceiveAsync();

        // Whole: one parseable message of at least the configured size (overshoot < one level).
        Assert.InRange(snapshot.Data.Length, size, size + 64);
        Assert.Equal("snapshot", snapshot.MessageType);
        Assert.Equal(Btc, snapshot.Json.GetProperty("topic").GetString());
        Assert.Equal(0, snapshot.Json.GetProperty("seq").GetInt64());
        var levels = snapshot.Json.GetProperty("levels").EnumerateArray().ToList();
        Assert.True(levels.Count > 10_000);
        Assert.All(levels, l => Assert.Equal(3, l.GetArrayLength()));

        var firstTick = await client.ReceiveAsync();
        Assert.Equal("tick", firstTick.MessageType);
        Assert.Equal(1, firstTick.Json.GetProperty("seq").GetInt64());
    }

    [Fact]
    public async Task On_demand_snapshot_carries_the_seq_of_the_last_tick_before_it()
    {
        await using var host = await StartAsync(o => o.SnapshotBytes = 4096);
        await using var client = await SimClient.ConnectAsync(host.WebSocketUri);
        await client.SubscribeAsync(1, Btc);
        var fifth = await client.ReceiveUntilAsync(m => m.MessageType == "tick" && m.Json.GetProperty("seq").GetInt64() >= 5);

        await client.SendAsync($$"""{"op":"snapshot","topic":"{{Btc}}","id":2}""");
        var lastTickSeq = fifth.Json.GetProperty("seq").GetInt64();
        var snapshot = await client.ReceiveUntilAsync(m =>
        {
            if (m.MessageType == "tick") lastTickSeq = m.Json.GetProperty("seq").GetInt64();
            return m.MessageType == "snapshot";
        });
        var next = await client.ReceiveAsync();

        Assert.True(snapshot.Data.Length >= 4096);
        Assert.Equal(lastTickSeq, snapshot.Json.GetProperty("seq").GetInt64());
        Assert.Equal(lastTickSeq + 1, next.Json.GetProperty("seq").GetInt64());
    }
}

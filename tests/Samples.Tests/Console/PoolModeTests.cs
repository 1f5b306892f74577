using System.Text.RegularExpressions;
using ConsoleSubscriber;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Console;

/// <summary>The console subscriber's pool mode (<c>--per-connection N</c>), run in process in plain mode.</summary>
public sealed partial class PoolModeTests
{
    private const string Sol = "SOL-USD";

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("x")]
    [InlineData("1.5")]
    public async Task A_bad_per_connection_value_is_a_usage_error_exit_2(string value)
    {
        var error = new LineCapture();

        var exit = await SubscriberApp.RunAsync(["--per-connection", value, "--plain"], new LineCapture(), CancellationToken.None, error: error).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(SubscriberApp.ExitUsage, exit);
        Assert.Contains($"error: --per-connection must be a whole number of at least 1, not '{value}'.", error.Text, StringComparison.Ordinal);
        Assert.Contains("[--per-connection N]", error.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Topics_spread_one_per_connection_each_connection_shows_its_phase_and_resubscribes_its_own_topic_after_a_drop()
    {
        await using var host = await StartAsync(o =>
        {
            o.Topics = [Btc, Eth, Sol];
            o.TickInterval = TimeSpan.FromMilliseconds(20);
        });
        var output = new LineCapture();
        using var ctrlC = new CancellationTokenSource();
        var run = SubscriberApp.RunAsync(["--url", host.WebSocketUri.ToString(), "--topics", $"{Btc},{Eth},{Sol}", "--per-connection", "1", "--plain"], output, ctrlC.Token);

        // Each connection's phase is shown; every topic ticks on epoch 0 on its own connection.
        await output.WaitForAsync(text => StatusWhere(text, "e0").Any(), "every topic ticking on epoch 0");
        Assert.Contains("pool: 3 topics over 3 connections, at most 1 each", output.Text, StringComparison.Ordinal);
        for (var i = 0; i < 3; i++)
        {
            Assert.Contains($"subscriber-{i}: Connected epoch=0", output.Text, StringComparison.Ordinal);
        }

        host.DropAllConnections();
        await output.WaitForAsync(text => Enumerable.Range(0, 3).All(i => text.Contains($"subscriber-{i}: Resumed epoch=1", StringComparison.Ordinal)), "every connection resumed");
        await output.WaitForAsync(text => StatusWhere(text, "e1").Any(), "every topic ticking again on epoch 1");
        await ctrlC.CancelAsync();
        var exit = await run.WaitAsync(TimeSpan.FromSeconds(30));

        var text = output.Text;
        Assert.Equal(SubscriberApp.ExitOk, exit);
        Assert.Contains("shut down cleanly", text, StringComparison.Ordinal);
        Assert.Contains("summary: pool connections 3,", text, StringComparison.Ordinal);
        for (var i = 0; i < 3; i++)
        {
            Assert.Matches($"connection subscriber-{i}: topics 1, epoch 1, frames [1-9]", text);
        }

        // Each topic stayed on one connection, and the three connections carry different topics.
        var homes = new[] { Btc, Eth, Sol }.Select(t => Regex.Match(text, $"topic {t}: connection (\\d), epoch 1, last seq [1-9]").Groups[1].Value).ToList();
        Assert.All(homes, h => Assert.NotEmpty(h));
        Assert.Equal(3, homes.Distinct().Count());
    }

    // Status lines where all three topics show ticks on the given epoch.
    private static IEnumerable<string> StatusWhere(string text, string epoch) =>
        text.Split('\n').Where(l => l.Contains("status pool 3/3 up", StringComparison.Ordinal)
            && new[] { Btc, Eth, Sol }.All(t => Regex.IsMatch(l, $"{t}@c\\d{epoch}#[1-9]")));
}

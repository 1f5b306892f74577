using ConsoleSubscriber;

namespace Samples.Tests.Console;

/// <summary>The console subscriber's redundant-legs mode (<c>--legs N</c>), run in process in plain mode.</summary>
public sealed class LegsModeTests
{
    [Theory]
    [InlineData("1")]
    [InlineData("17")]
    [InlineData("x")]
    public async Task A_bad_legs_value_is_a_usage_error_exit_2(string value)
    {
        var output = new LineCapture();

        var exit = await SubscriberApp.RunAsync(["--legs", value, "--plain"], output, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(SubscriberApp.ExitUsage, exit);
        Assert.Contains($"error: --legs must be a whole number from 2 to 16, not '{value}'.", output.Text, StringComparison.Ordinal);
        Assert.Contains("[--legs N]", output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Legs_and_a_pool_cannot_be_combined()
    {
        var output = new LineCapture();

        var exit = await SubscriberApp.RunAsync(["--legs", "2", "--per-connection", "1", "--plain"], output, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(SubscriberApp.ExitUsage, exit);
        Assert.Contains("--legs and --per-connection cannot be combined", output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_legs_against_the_embedded_venue_show_each_leg_and_the_aggregate_and_a_cut_leg_costs_no_gap()
    {
        // The embedded venue numbers ticks venue-wide in this mode and cuts one leg every 6 s.
        var output = new LineCapture();

        var exit = await SubscriberApp.RunAsync(["--legs", "2", "--duration", "8", "--plain"], output, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        var text = output.Text;
        Assert.Equal(SubscriberApp.ExitOk, exit);
        Assert.Contains("legs: 3 topics on each of 2 legs, merged by (topic, seq)", text, StringComparison.Ordinal);
        Assert.Contains("status Connected epoch=0 legs 2/2 up", text, StringComparison.Ordinal);
        Assert.Contains("simulator: cut leg a", text, StringComparison.Ordinal);
        Assert.Contains("leg a: Resumed epoch=1", text, StringComparison.Ordinal);
        Assert.Contains("summary: legs 2, aggregate epoch 0,", text, StringComparison.Ordinal);
        Assert.Matches("gaps 0, duplicates 0, cuts 1,", text);
        Assert.Matches("leg a: epoch 1, wins [1-9]", text);
        Assert.Matches("leg b: epoch 0, wins [1-9]", text);
        foreach (var topic in new[] { "BTC-USD", "ETH-USD", "SOL-USD" })
        {
            Assert.Matches($"topic {topic}: last seq [1-9]\\d*, last price [0-9.]+, ticks [1-9]\\d*, gaps 0, duplicates 0", text);
        }
    }
}

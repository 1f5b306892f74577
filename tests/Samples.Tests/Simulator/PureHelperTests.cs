using VenueSimulator.Hosting;
using VenueSimulator.Protocol;
using VenueSimulator.Sessions;
using System.Text;

namespace Samples.Tests.Simulator;

public sealed class PureHelperTests
{
    [Fact]
    public void Rate_window_allows_the_limit_per_sliding_second_and_no_more()
    {
        var window = new InboundRateWindow(limit: 5);
        for (var t = 0; t < 5; t++) Assert.True(window.TryRecord(t * 100));
        Assert.False(window.TryRecord(500));   // 6th inside [0, 1000)
        Assert.False(window.TryRecord(999));
        Assert.True(window.TryRecord(1000));   // the message at 0 has left the window
        Assert.False(window.TryRecord(1050));  // 100..400 and 1000 still inside
    }

    [Fact]
    public void Rate_window_with_zero_limit_never_refuses()
    {
        var window = new InboundRateWindow(limit: 0);
        for (var i = 0; i < 1000; i++) Assert.True(window.TryRecord(0));
    }

    [Theory]
    [InlineData("""{"op":"subscribe","topics":["A","B"],"id":3}""", "Subscribe", "A,B", 3L)]
    [InlineData("""{"op":"unsubscribe","topics":["A"]}""", "Unsubscribe", "A", null)]
    [InlineData("""{"op":"ping","id":42}""", "Ping", "", 42L)]
    [InlineData("""{"op":"snapshot","topic":"A","id":1}""", "Snapshot", "A", 1L)]
    public void Parser_reads_every_op(string json, string op, string topics, long? id)
    {
        Assert.True(ClientCommandParser.TryParse(Encoding.UTF8.GetBytes(json), out var command, out var error), error);
        Assert.Equal(op, command!.Op.ToString());
        Assert.Equal(topics, string.Join(",", command.Topics));
        Assert.Equal(id, command.Id);
    }

    [Theory]
    [InlineData("{oops", "invalid JSON")]
    [InlineData("[1,2]", "message must be a JSON object")]
    [InlineData("""{"op":"dance"}""", "unknown op")]
    [InlineData("""{"op":"subscribe","topics":[]}""", "\"topics\" is empty")]
    [InlineData("""{"op":"ping","id":"x"}""", "\"id\" must be an integer")]
    public void Parser_rejects_bad_input_with_a_reason(string json, string expected)
    {
        Assert.False(ClientCommandParser.TryParse(Encoding.UTF8.GetBytes(json), out _, out var error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Command_line_maps_flags_to_options()
    {
        var ok = SimulatorCommandLine.TryParse(
            new[] { "--port", "0", "--topics", "BTC-USD, ETH-USD", "--chaos", "--tick-ms", "20", "--rate-limit", "7", "--lifetime-s", "30", "--seed", "3", "--snapshot-bytes", "1000" },
            out var options, out var error);

        Assert.True(ok, error);
        Assert.Equal(0, options.Port);
        Assert.Equal(new[] { "BTC-USD", "ETH-USD" }, options.Topics);
        Assert.True(options.Chaos.Enabled);
        Assert.Equal(TimeSpan.FromMilliseconds(20), options.TickInterval);
        Assert.Equal(7, options.InboundMessagesPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(30), options.MaxConnectionLifetime);
        Assert.Equal(3, options.Seed);
        Assert.True(options.SnapshotOnSubscribe);
        Assert.Equal(1000, options.SnapshotBytes);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--port", "x")]
    [InlineData("--port")]
    [InlineData("--tick-ms", "0")]
    public void Command_line_reports_bad_input(params string[] args)
    {
        Assert.False(SimulatorCommandLine.TryParse(args, out _, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
    }
}

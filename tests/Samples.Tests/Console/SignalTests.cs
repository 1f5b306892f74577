using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using ConsoleSubscriber;
using VenueSimulator;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Console;

/// <summary>
/// Both samples run as their own processes and are stopped with a real signal, as <c>docker stop</c>,
/// systemd and <c>timeout</c> stop them (SIGTERM), or Ctrl+C does (SIGINT): the subscriber closes with
/// 1000, prints its summary and exits 0 in every mode; the simulator closes every client with 1001 and
/// exits 0.
/// </summary>
public sealed partial class SignalTests
{
    [Theory]
    [InlineData(PosixSignal.SIGTERM)]
    [InlineData(PosixSignal.SIGINT)]
    public async Task Embedded_mode_stops_on_the_signal_with_a_close_1000_a_summary_and_exit_0(PosixSignal signal)
    {
        using var child = ChildProcess.Start("ConsoleSubscriber", "--plain", "--topics", Btc);
        await child.Output.WaitForAsync(text => text.Contains("topics ticking on epoch 0", StringComparison.Ordinal), "the topic ticking on epoch 0");

        child.Signal(signal);
        var exit = await child.WaitForExitAsync();

        var text = child.Output.Text;
        Assert.True(exit == SubscriberApp.ExitOk, $"exit {exit}\n{text}\nstderr:\n{child.Error.Text}");
        Assert.Contains($"{(signal == PosixSignal.SIGTERM ? "SIGTERM" : "SIGINT (Ctrl+C)")}: stopping", child.Error.Text, StringComparison.Ordinal);
        Assert.Contains("stop requested: closing the connection (1000)", text, StringComparison.Ordinal);
        // The embedded venue logs what it saw: the subscriber's close frame with 1000.
        Assert.Contains("client closed with 1000", text, StringComparison.Ordinal);
        Assert.Contains("shut down cleanly", text, StringComparison.Ordinal);
        Assert.Contains("summary:", text, StringComparison.Ordinal);
        Assert.Contains("final phase: Closed", text, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", text + child.Error.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Url_mode_stops_on_SIGTERM_and_the_venue_sees_close_1000()
    {
        await using var host = await StartAsync();
        using var child = ChildProcess.Start("ConsoleSubscriber", "--url", host.WebSocketUri.ToString(), "--topics", Btc);
        await child.Output.WaitForAsync(text => text.Contains("topics ticking on epoch 0", StringComparison.Ordinal), "the topic ticking on epoch 0");

        child.Signal(PosixSignal.SIGTERM);
        var exit = await child.WaitForExitAsync();

        Assert.True(exit == SubscriberApp.ExitOk, $"exit {exit}\n{child.Output.Text}\nstderr:\n{child.Error.Text}");
        await host.WaitForStatsAsync(s => s.ActiveConnections == 0);
        Assert.Equal(1, host.Stats.ClientCloses(1000));
        Assert.Equal(1, host.Stats.Disconnects(DisconnectReason.ClientClosed));
        Assert.Contains("summary:", child.Output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pool_mode_stops_on_SIGTERM_and_the_venue_sees_close_1000_on_every_connection()
    {
        await using var host = await StartAsync(o => o.Topics = [Btc, Eth, "SOL-USD"]);
        using var child = ChildProcess.Start("ConsoleSubscriber", "--url", host.WebSocketUri.ToString(), "--topics", $"{Btc},{Eth},SOL-USD", "--per-connection", "1");
        await child.Output.WaitForAsync(text => text.Contains("status pool 3/3 up", StringComparison.Ordinal), "every connection up");

        child.Signal(PosixSignal.SIGTERM);
        var exit = await child.WaitForExitAsync();

        Assert.True(exit == SubscriberApp.ExitOk, $"exit {exit}\n{child.Output.Text}\nstderr:\n{child.Error.Text}");
        await host.WaitForStatsAsync(s => s.ActiveConnections == 0);
        Assert.Equal(3, host.Stats.ClientCloses(1000));
        Assert.Contains("stop requested: closing every connection (1000)", child.Output.Text, StringComparison.Ordinal);
        Assert.Contains("summary: pool connections 3,", child.Output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Legs_mode_stops_on_SIGTERM_and_the_venue_sees_close_1000_on_every_leg()
    {
        await using var host = await StartAsync(o =>
        {
            o.Topics = [Btc, Eth];
            o.VenueSequences = true; // the legs' key (topic, seq) names the same venue message on both
        });
        using var child = ChildProcess.Start("ConsoleSubscriber", "--url", host.WebSocketUri.ToString(), "--topics", $"{Btc},{Eth}", "--legs", "2", "--plain");
        await child.Output.WaitForAsync(text => text.Contains("legs 2/2 up", StringComparison.Ordinal), "both legs up");

        child.Signal(PosixSignal.SIGTERM);
        var exit = await child.WaitForExitAsync();

        Assert.True(exit == SubscriberApp.ExitOk, $"exit {exit}\n{child.Output.Text}\nstderr:\n{child.Error.Text}");
        await host.WaitForStatsAsync(s => s.ActiveConnections == 0);
        Assert.Equal(2, host.Stats.ClientCloses(1000));
        Assert.Contains("summary: legs 2,", child.Output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_standalone_simulator_closes_its_clients_with_1001_on_SIGTERM_and_exits_0()
    {
        using var child = ChildProcess.Start("VenueSimulator", "--port", "0", "--quiet", "--topics", Btc);
        await child.Output.WaitForAsync(text => Listening().IsMatch(text), "the listening line");
        var uri = new Uri(Listening().Match(child.Output.Text).Groups[1].Value);
        await using var client = await Simulator.SimClient.ConnectAsync(uri);
        await client.SubscribeAsync(1, Btc);
        Assert.Equal("subscribed", (await client.ReceiveAsync()).MessageType);

        child.Signal(PosixSignal.SIGTERM);
        Simulator.Received message;
        do
        {
            message = await client.ReceiveAsync();
        }
        while (!message.IsClose);
        await client.Socket.CloseOutputAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        var exit = await child.WaitForExitAsync();

        Assert.Equal(1001, (int?)message.CloseStatus);
        Assert.Equal("server shutting down", message.CloseDescription);
        Assert.True(exit == 0, $"exit {exit}\n{child.Output.Text}\nstderr:\n{child.Error.Text}");
        Assert.Contains("SIGTERM: stopping", child.Output.Text, StringComparison.Ordinal);
        Assert.Contains("stopped: closed 1 of 1 connection(s) with a close handshake", child.Output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_standalone_simulator_reports_a_usage_error_on_stderr_with_exit_2()
    {
        using var child = ChildProcess.Start("VenueSimulator", "--bogus");

        var exit = await child.WaitForExitAsync();

        Assert.Equal(2, exit);
        Assert.Contains("error: unknown option --bogus", child.Error.Text, StringComparison.Ordinal);
        Assert.Contains("Exit codes:", child.Error.Text, StringComparison.Ordinal);
        Assert.Equal(string.Empty, child.Output.Text);
    }

    [GeneratedRegex(@"listening on (ws://127\.0\.0\.1:\d+/ws)")]
    private static partial Regex Listening();
}

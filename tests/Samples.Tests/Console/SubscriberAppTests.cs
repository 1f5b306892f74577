using System.Text.RegularExpressions;
using ConsoleSubscriber;
using VenueSimulator;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Console;

/// <summary>The console subscriber run in process, in plain mode, as a user or CI would run it.</summary>
public sealed partial class SubscriberAppTests
{
    [Fact]
    public async Task Survives_chaos_and_drops_and_reports_ticks_after_every_reconnect()
    {
        // Chaos is on (seeded), and the test adds drops of its own so the reconnects do not depend on dice.
        await using var host = await StartAsync(o =>
        {
            o.TickInterval = TimeSpan.FromMilliseconds(20);
            o.InboundMessagesPerSecond = 5;
            o.Chaos = new ChaosOptions { Enabled = true, Interval = TimeSpan.FromMilliseconds(500), DropProbability = 0.1, StallProbability = 0 };
        });
        var output = new LineCapture();
        using var ctrlC = new CancellationTokenSource();
        var run = SubscriberApp.RunAsync(["--url", host.WebSocketUri.ToString(), "--topics", $"{Btc},{Eth}", "--plain"], output, ctrlC.Token);

        // Three distinct epochs with every topic ticking, dropping after each. Chaos may add drops of
        // its own (an epoch can then pass without ticks), so wait for a *newer* flowing epoch each time
        // rather than for a fixed epoch number.
        var lastFlowing = -1L;
        for (var round = 0; round < 3; round++)
        {
            var after = lastFlowing;
            await output.WaitForAsync(text => FlowingEpochs(text).Any(e => e > after), $"ticks on an epoch after {after}");
            lastFlowing = FlowingEpochs(output.Text).Max();
            if (round < 2) host.DropAllConnections();
        }
        await ctrlC.CancelAsync();
        var exit = await run.WaitAsync(TimeSpan.FromSeconds(30));

        var text = output.Text;
        Assert.Equal(0, exit);
        Assert.Contains("shut down cleanly", text, StringComparison.Ordinal);
        Assert.True(Number(text, "reconnects") >= 2, text);
        Assert.True(Number(text, "frames") > 0, text);
        // Ticks on at least three epochs: data flowed again after each forced reconnect.
        var byEpoch = TicksByEpoch().Match(text);
        Assert.True(byEpoch.Success, text);
        var epochs = byEpoch.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=')).ToDictionary(p => long.Parse(p[0]), p => long.Parse(p[1]));
        Assert.True(epochs.Count(kv => kv.Value > 0) >= 3, text);
        Assert.Matches($"topic {Btc}: last seq \\d+, last price [0-9.]+, ticks [1-9]", text);
        Assert.Matches($"topic {Eth}: last seq \\d+, last price [0-9.]+, ticks [1-9]", text);
        Assert.DoesNotContain("unrecoverable", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ibkr")]
    [InlineData("binance")]
    public async Task With_no_url_runs_the_embedded_simulator_and_exits_0_when_stopped(string venue)
    {
        // Stopped (Ctrl+C) once every topic ticks, not after a fixed --duration: on a loaded 2-core
        // machine start-up alone can outlast a 2 s run (seen in CI). The --duration exit itself is
        // covered by the chaos test below, which asserts nothing that needs the feed to be fast.
        var output = new LineCapture();
        using var ctrlC = new CancellationTokenSource();
        var run = SubscriberApp.RunAsync(["--plain", "--venue", venue], output, ctrlC.Token);

        await output.WaitForAsync(text => text.Contains("topics ticking on epoch 0", StringComparison.Ordinal), "every topic ticking on epoch 0");
        await ctrlC.CancelAsync();
        var exit = await run.WaitAsync(TimeSpan.FromSeconds(30));

        var text = output.Text;
        Assert.Equal(0, exit);
        Assert.Contains("listening on ws://127.0.0.1:", text, StringComparison.Ordinal);
        Assert.Contains("summary:", text, StringComparison.Ordinal);
        Assert.True(Number(text, "frames") > 0, text);
    }

    [Theory]
    [InlineData("ibkr")]
    [InlineData("binance")]
    public async Task With_chaos_the_embedded_run_still_ends_cleanly_with_a_summary(string venue)
    {
        // The embedded chaos is random (a 4 s stall may start at once), so this only checks the run
        // survives it and shuts down cleanly; recovery itself is asserted by the drop test above.
        var output = new LineCapture();

        var exit = await SubscriberApp.RunAsync(["--chaos", "--duration", "5", "--plain", "--venue", venue], output, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(30));

        var text = output.Text;
        Assert.Equal(0, exit);
        Assert.Contains("lifecycle: Connected epoch=0", text, StringComparison.Ordinal);
        Assert.Contains("shut down cleanly", text, StringComparison.Ordinal);
        Assert.Contains("summary:", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_token_is_used_for_the_handshake_but_never_printed()
    {
        const string secret = "s3cr3t-token-value";
        await using var host = await StartAsync(o => o.ExpectedToken = secret);
        var output = new LineCapture();

        using var ctrlC = new CancellationTokenSource();
        var run = SubscriberApp.RunAsync(["--url", host.WebSocketUri.ToString(), "--token", secret, "--topics", Btc], output, ctrlC.Token);

        // Stopped once the topic ticks (a fixed --duration can end before a loaded machine connects).
        await output.WaitForAsync(text => text.Contains("topics ticking on epoch 0", StringComparison.Ordinal), "the topic ticking on epoch 0");
        await ctrlC.CancelAsync();
        var exit = await run.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, exit);
        Assert.DoesNotContain(secret, output.Text, StringComparison.Ordinal);
        Assert.Equal(0, host.Stats.HandshakesRejected);
    }

    [Theory]
    [InlineData("--venue", "kraken")]
    [InlineData("--url", "http://example.com/ws")]
    [InlineData("--duration", "-1")]
    [InlineData("--duration", "abc")]
    [InlineData("--duration", "NaN")]
    [InlineData("--bogus", "1")]
    public async Task Bad_arguments_exit_2_with_a_message_on_stderr(string option, string value)
    {
        var output = new LineCapture();
        var error = new LineCapture();

        var exit = await SubscriberApp.RunAsync([option, value], output, CancellationToken.None, error: error).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(SubscriberApp.ExitUsage, exit);
        Assert.Contains(option.TrimStart('-'), error.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("usage:", error.Text, StringComparison.Ordinal);
        Assert.Contains("exit codes: 0 ok, 1 unrecoverable, 2 usage, 3 never connected", error.Text, StringComparison.Ordinal);
        Assert.Equal(string.Empty, output.Text);
    }

    [Fact]
    public async Task Help_goes_to_stdout_and_names_the_signals_and_exit_codes()
    {
        var output = new LineCapture();
        var error = new LineCapture();

        var exit = await SubscriberApp.RunAsync(["--help"], output, CancellationToken.None, error: error).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(SubscriberApp.ExitOk, exit);
        Assert.Contains("SIGTERM", output.Text, StringComparison.Ordinal);
        Assert.Contains("Exit codes:", output.Text, StringComparison.Ordinal);
        Assert.Equal(string.Empty, error.Text);
    }

    [Fact]
    public async Task A_refused_port_shows_the_error_on_every_attempt_and_exits_3_with_a_summary()
    {
        // --duration bounds a run that never connects; 6 s (not 1.5) so that on a loaded machine at
        // least one attempt has failed by then (a 404 round trip took 3 s at load average 50).
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now: connection refused
        var output = new LineCapture();

        var exit = await SubscriberApp.RunAsync(["--url", $"ws://127.0.0.1:{port}/ws", "--duration", "6", "--plain"], output, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(30));

        var text = output.Text;
        Assert.Equal(SubscriberApp.ExitNeverConnected, exit);
        Assert.Matches(@"attempt \d+ failed: Connection", text);
        Assert.Contains("never connected in", text, StringComparison.Ordinal);
        Assert.Contains("  last error: Connection", text, StringComparison.Ordinal);
        Assert.Contains("summary:", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_404_says_path_not_found_gives_up_after_the_permanent_retries_and_exits_1()
    {
        await using var host = await StartAsync();
        var output = new LineCapture();
        var wrongPath = new UriBuilder(host.WebSocketUri) { Path = "/nope" }.Uri;

        // No --duration: a mistyped path ends the run by itself (Permanent, like a rejected token).
        var exit = await SubscriberApp.RunAsync(["--url", wrongPath.ToString(), "--plain"], output, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(60));

        var text = output.Text;
        Assert.Equal(SubscriberApp.ExitUnrecoverable, exit);
        Assert.Matches(@"attempt \d+ failed: Connection \(HTTP 404\): The server rejected the handshake with HTTP 404: path not found on the server", text);
        Assert.Contains("connection unrecoverable after 3 attempts: Connection (HTTP 404)", text, StringComparison.Ordinal);
        Assert.Contains("final phase: Unrecoverable", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_token_ends_unrecoverable_with_exit_1_a_summary_and_no_stack_trace()
    {
        await using var host = await StartAsync(o => o.ExpectedToken = "the-right-token");
        var output = new LineCapture();

        var exit = await SubscriberApp.RunAsync(["--url", host.WebSocketUri.ToString(), "--token", "a-wrong-token", "--plain"], output, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(60));

        var text = output.Text;
        Assert.Equal(SubscriberApp.ExitUnrecoverable, exit);
        Assert.Contains("connection unrecoverable after", text, StringComparison.Ordinal);
        Assert.Contains("(HTTP 401)", text, StringComparison.Ordinal);
        Assert.Contains("summary:", text, StringComparison.Ordinal);
        Assert.Contains("final phase: Unrecoverable", text, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("a-wrong-token", text, StringComparison.Ordinal);
    }

    private static IEnumerable<long> FlowingEpochs(string text) =>
        FlowingEpoch().Matches(text).Select(m => long.Parse(m.Groups[1].Value));

    private static long Number(string text, string label) =>
        long.Parse(Regex.Match(text, $@"^\s+{label}: (\d+)", RegexOptions.Multiline).Groups[1].Value);

    [GeneratedRegex(@"topics ticking on epoch (\d+)")]
    private static partial Regex FlowingEpoch();

    [GeneratedRegex(@"ticks by epoch: ([0-9= ]*)")]
    private static partial Regex TicksByEpoch();
}

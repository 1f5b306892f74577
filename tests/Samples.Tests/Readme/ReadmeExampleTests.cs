using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Samples.Tests.Console;
using TradingAdapters.Protocol;
using Transport;
using Transport.WebSockets;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Readme;

/// <summary>Runs alone: a README example may own the process's SIGTERM, its console or its working directory.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReadmeRunCollection
{
    public const string Name = "README examples, run alone";
}

/// <summary>
/// Every README example that can run, runs as written (issue 23): compiled with the prelude and its entry
/// point started, against the venue simulator (a live connection in <c>conn</c> where a block uses one)
/// or the mocks. <see cref="Plan"/> says how each block runs; a block it does not know fails
/// <see cref="Every_csharp_block_of_the_README_is_run_by_a_test_here"/>, so a new example is run too.
/// </summary>
[Collection(ReadmeRunCollection.Name)]
public sealed partial class ReadmeExampleTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>How a block runs.</summary>
    public enum How
    {
        /// <summary>A test of its own below, with its own venue and assertions.</summary>
        Custom,

        /// <summary>Its entry point completes without an exception (the blocks that configure, build or send).</summary>
        Completes,

        /// <summary>It reads until <c>ct</c> is cancelled, once Handle received frames; it then ends or throws OperationCanceledException.</summary>
        UntilCancelled,

        /// <summary>As <see cref="UntilCancelled"/>, with <c>conn</c> in lease mode.</summary>
        UntilCancelledLeased,
    }

    // Each block of README.md, found by a marker only it contains, and how it runs.
    private static readonly (string Marker, How How)[] Plan =
    [
        ("PosixSignalRegistration.Create(PosixSignal.SIGTERM", How.Custom),      // Holding a connection
        ("WithSessionInitializer(async (session, token)", How.Custom),            // Sessions: login before orders
        ("FanOutSubscriberStats stats = recorder.Stats", How.Completes),          // Fan-out
        ("static async Task RunPoolAsync", How.Custom),                           // Pool
        ("sealed class StreamGrammar", How.Custom),                               // A grammar
        ("SendBatchAsync([Frame.Text(\"cancel:42\")", How.Completes),             // Atomic batch
        ("conn built with .WithLeasedPayloads()", How.UntilCancelledLeased),      // Lease mode
        ("var chosen = new WebSocketTransportBuilder()", How.Completes),          // Choosing a leaf
        ("public sealed class MarketDataWorker", How.Completes),                  // Generic Host registration
        ("venue-ca.crt", How.Custom),                                             // TLS and proxies
        ("AddMeter(TransportTelemetry.Name)", How.Completes),                     // OpenTelemetry
        ("RemoveAllLoggers()", How.Completes),                                    // Secrets: app-side settings
        ("MockHarness.Create()", How.Completes),                                  // Testing deterministically
        ("new RedundantConnection(", How.UntilCancelled),                         // Redundant legs
        ("await conn.RotateAsync(ct)", How.Completes),                            // Rotation: connects, rotates once, disposes
    ];

    public static TheoryData<string> RunnableAsIs()
    {
        var data = new TheoryData<string>();
        foreach (var (marker, how) in Plan)
        {
            if (how != How.Custom && ReadmeBlocks.All().Any(b => b.Code.Contains(marker, StringComparison.Ordinal))) data.Add(marker);
        }

        return data;
    }

    [Fact]
    public void Every_csharp_block_of_the_README_is_run_by_a_test_here()
    {
        foreach (var (line, code) in ReadmeBlocks.All())
        {
            var plans = Plan.Where(p => code.Contains(p.Marker, StringComparison.Ordinal)).ToList();
            Assert.True(plans.Count == 1,
                $"README.md block at line {line} matches {plans.Count} entries of ReadmeExampleTests.Plan: give it one (how it runs against the simulator or the mocks).\n--- block ---\n{code}");
        }
    }

    [Fact]
    public async Task The_first_example_receives_ticks_and_a_real_SIGTERM_ends_it_cleanly_with_close_1000()
    {
        await using var host = await StartAsync(o => o.TickInterval = TimeSpan.FromMilliseconds(20));
        var example = Load("PosixSignalRegistration.Create(PosixSignal.SIGTERM");
        example.Set("venueUri", host.WebSocketUri);

        var run = example.RunMain();
        await example.WaitForTicksAsync(run, 3);
        // The example registered its SIGTERM handler before connecting (it has ticks): the signal is its.
        PosixSignals.Send(Environment.ProcessId, PosixSignal.SIGTERM);

        await run.WaitAsync(Bound); // no OperationCanceledException escapes: Ctrl+C/SIGTERM is a clean stop
        await host.WaitForStatsAsync(s => s.ActiveConnections == 0);
        Assert.Equal(1, host.Stats.ClientCloses(1000));
        Assert.Equal(1, host.Stats.Disconnects(VenueSimulator.DisconnectReason.ClientClosed));
    }

    [Fact]
    public async Task The_sessions_example_logs_in_before_its_order_on_a_venue_that_requires_it()
    {
        await using var host = await StartAsync(o => o.RequireLogin = true);
        var example = Load("WithSessionInitializer(async (session, token)");
        example.Set("venueUri", host.WebSocketUri);
        using var stop = new CancellationTokenSource(Bound);
        example.Set("ct", stop.Token);

        await example.RunMain().WaitAsync(Bound);

        await host.WaitForStatsAsync(s => s.OrdersAccepted == 1 && s.ActiveConnections == 0);
        Assert.Equal(0, host.Stats.OrdersRefused);
        Assert.True(host.Stats.Logins >= 1);
        Assert.Equal(1, host.Stats.ClientCloses(1000));
    }

    [Fact]
    public async Task The_pool_example_delivers_the_venues_frames_until_cancelled()
    {
        await using var host = await StartAsync(o =>
        {
            o.Topics = ["btcusdt@trade", "ethusdt@trade"];
            o.TickInterval = TimeSpan.FromMilliseconds(20);
        });
        var example = Load("static async Task RunPoolAsync");
        var runPool = example.Assembly.GetType("Program", throwOnError: true)!
            .GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
            .Single(m => m.Name.Contains("RunPoolAsync", StringComparison.Ordinal));
        using var stop = new CancellationTokenSource(Bound);
        var lines = new LineCapture();
        var console = System.Console.Out;
        System.Console.SetOut(lines);
        Task run;
        try
        {
            // The README's pool, given the simulator's grammar (the README's StreamGrammar is Binance's).
            run = Invoke(() => runPool.Invoke(null, [new VenueSubscriptionProtocol(), host.WebSocketUri, stop.Token]));
            await lines.WaitForAsync(t => PooledLine().Matches(t).Count >= 3, "three pooled frames printed");
        }
        finally
        {
            System.Console.SetOut(console);
        }

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(Bound));
        await host.WaitForStatsAsync(s => s.ActiveConnections == 0);
    }

    [Fact]
    public async Task The_grammar_example_builds_binances_subscribe_and_unsubscribe()
    {
        var example = Load("sealed class StreamGrammar");
        await example.RunMain().WaitAsync(Bound);

        var grammar = (Transport.WebSockets.Pool.ISubscriptionProtocol)Activator.CreateInstance(example.Assembly.GetType("StreamGrammar", throwOnError: true)!)!;
        var subscribe = Assert.Single(grammar.Subscribe(["btcusdt@trade", "ethusdt@trade"]));
        var unsubscribe = Assert.Single(grammar.Unsubscribe(["btcusdt@trade"]));

        Assert.Equal("""{"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@trade"],"id":1}""", subscribe.GetText());
        Assert.Equal("""{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":2}""", unsubscribe.GetText());
    }

    [Fact]
    public async Task The_tls_example_builds_its_connectors_trusting_a_private_CA_read_from_a_file()
    {
        var example = Load("venue-ca.crt");
        var folder = Directory.CreateTempSubdirectory("readme-tls-");
        using (var key = RSA.Create(2048))
        {
            var request = new CertificateRequest("CN=Readme venue CA", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            await File.WriteAllBytesAsync(Path.Combine(folder.FullName, "venue-ca.crt"), ca.Export(X509ContentType.Cert));
        }

        var working = Environment.CurrentDirectory;
        Environment.CurrentDirectory = folder.FullName; // the example reads "venue-ca.crt" from where the app runs
        try
        {
            await example.RunMain().WaitAsync(Bound);
        }
        finally
        {
            Environment.CurrentDirectory = working;
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(RunnableAsIs))]
    public async Task The_block_runs_as_written(string marker)
    {
        var how = Plan.Single(p => p.Marker == marker).How;
        await using var host = await StartAsync(o => o.TickInterval = TimeSpan.FromMilliseconds(20));
        await using var conn = await LiveAsync(host.WebSocketUri, leased: how == How.UntilCancelledLeased);
        var example = Load(marker);
        using var stop = new CancellationTokenSource(Bound);
        example.Set("venueUri", host.WebSocketUri);
        example.Set("conn", conn);
        example.Set("ct", stop.Token);

        var run = example.RunMain();
        if (how == How.Completes)
        {
            await run.WaitAsync(Bound);
            return;
        }

        await example.WaitForTicksAsync(run, 3);
        await stop.CancelAsync();
        try
        {
            await run.WaitAsync(Bound);
        }
        catch (OperationCanceledException)
        {
            // The reading loop ends with the cancellation of its token: the normal way out.
        }
    }

    // A connection to the simulator, subscribed to its BTC-USD ticks on every socket.
    private static async Task<ReconnectingConnection> LiveAsync(Uri venue, bool leased) =>
        await new WebSocketTransportBuilder()
            .Configure(o =>
            {
                o.WithUri(venue);
                if (leased) o.WithLeasedPayloads();
            })
            .WithSessionInitializer((session, token) => session.Sink.SendTextAsync("""{"op":"subscribe","topics":["BTC-USD"],"id":1}""", cancellationToken: token))
            .Build()
            .ConnectAsync(TimeSpan.FromSeconds(30));

    private static Example Load(string marker)
    {
        var (line, code) = ReadmeBlocks.All().Single(b => b.Code.Contains(marker, StringComparison.Ordinal));
        var (assembly, errors) = ReadmeBlocks.Compile(code);
        Assert.True(assembly is not null, $"README.md block at line {line} does not compile:\n{string.Join('\n', errors)}");
        return new Example(assembly);
    }

    // Runs a reflected call on the thread pool, its own exception (not TargetInvocationException) surfacing.
    private static Task Invoke(Func<object?> call) => Task.Run(async () =>
    {
        object? result;
        try
        {
            result = call();
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
            throw;
        }

        if (result is Task task) await task;
    });

    [GeneratedRegex(@"^\d+/\d+: \d+ B; down: \d+ since", RegexOptions.Multiline)]
    private static partial Regex PooledLine();

    /// <summary>One compiled README block: its prelude's names and its entry point.</summary>
    private sealed class Example(Assembly assembly)
    {
        private readonly Type _names = assembly.GetType("ReadmePrelude.Names", throwOnError: true)!;

        public Assembly Assembly => assembly;

        public void Set(string name, object value) => _names.GetProperty(name)!.SetValue(null, value);

        /// <summary>The block's top-level statements (the async body, or the void one when it awaits nothing).</summary>
        public Task RunMain()
        {
            var main = assembly.GetType("Program", throwOnError: true)!.GetMethod("<Main>$", BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)!;
            return Invoke(() => main.Invoke(null, [Array.Empty<string>()]));
        }

        /// <summary>Waits (bounded) until Handle received <paramref name="count"/> ticks, failing early if the block ended.</summary>
        public async Task WaitForTicksAsync(Task run, int count)
        {
            var handled = (List<Frame>)_names.GetProperty("Handled")!.GetValue(null)!;
            var signal = (SemaphoreSlim)_names.GetProperty("HandledSignal")!.GetValue(null)!;
            using var bound = new CancellationTokenSource(Bound);
            while (Ticks(handled) < count)
            {
                Assert.False(run.IsCompleted, $"The example ended before {count} ticks: {run.Status} {run.Exception?.GetBaseException()}");
                await Task.WhenAny(run, signal.WaitAsync(bound.Token));
                Assert.False(bound.IsCancellationRequested, $"Fewer than {count} ticks reached Handle within {Bound}.");
            }
        }

        private static int Ticks(List<Frame> handled)
        {
            lock (handled)
            {
                return handled.Count(f => System.Text.Encoding.UTF8.GetString(f.Payload.Span).Contains("\"type\":\"tick\"", StringComparison.Ordinal));
            }
        }
    }
}

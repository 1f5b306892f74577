using System.Diagnostics;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Micro;
using Transport.Benchmarks.Scenarios;
using Transport.Benchmarks.Server;

// dotnet run -c Release --project bench/Transport.Benchmarks -- [--quick] [scenario...]
// Scenarios: receive latency send batch fanout recovery slow relay legs (default: all nine), micro (BenchmarkDotNet, only when named).
// Diagnostics: BENCH_CLIENTS=RawReused,PipeLease (ReceiveClient names, comma-separated) runs only those receive clients;
// BENCH_SIZES=100,1024 only those receive sizes; BENCH_ROUNDS=n rounds; BENCH_MICRO=LeasePoolBenchmarks only those micro classes.
var quick = args.Contains("--quick");
var named = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).Select(a => a.ToLowerInvariant()).ToHashSet();
string[] known = ["receive", "latency", "send", "batch", "fanout", "recovery", "slow", "relay", "legs", "micro"];
var unknown = named.Except(known).ToArray();
if (unknown.Length > 0 || args.Contains("--help"))
{
    Console.Error.WriteLine($"usage: dotnet run -c Release --project bench/Transport.Benchmarks -- [--quick] [{string.Join('|', known)}]...");
    return unknown.Length > 0 ? 2 : 0;
}

if (named.Contains("micro"))
{
    // In-process toolchain: no generated project to build, so this takes about a minute.
    var config = ManualConfig.CreateMinimumViable()
        .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
        .WithOptions(ConfigOptions.DisableLogFile);
    // BENCH_MICRO=PipeLeafBenchmarks (comma-separated class names) runs only those classes.
    Type[] micro = [typeof(RingBenchmarks), typeof(SendQueueBenchmarks), typeof(FanOutBenchmarks), typeof(PipeLeafBenchmarks), typeof(LeasePoolBenchmarks), typeof(LeaseOwnershipBenchmarks), typeof(DedupeBenchmarks)];
    if (Environment.GetEnvironmentVariable("BENCH_MICRO") is { Length: > 0 } onlyMicro)
    {
        micro = [.. micro.Where(t => onlyMicro.Split(',').Contains(t.Name))];
    }

    BenchmarkRunner.Run(micro, config);
    named.Remove("micro");
    if (named.Count == 0)
    {
        return 0;
    }
}

var runAll = named.Count == 0;
var settings = new Settings(quick);
var report = new Report();
var total = Stopwatch.StartNew();
Console.WriteLine($"# Transport.Benchmarks {(quick ? "(quick: harness check, timings meaningless)" : "(full)")}");
Console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, .NET {Environment.Version}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, Server GC: {System.Runtime.GCSettings.IsServerGC}");

await using (var server = await BenchServer.StartAsync())
{
    (string Name, Func<BenchServer, Settings, Report, Task> Run)[] scenarios =
    [
        ("receive", ReceiveThroughput.RunAsync),
        ("latency", Latency.RunAsync),
        ("send", SendThroughput.RunAsync),
        ("batch", BatchSend.RunAsync),
        ("fanout", FanOutThroughput.RunAsync),
        ("recovery", Recovery.RunAsync),
        ("slow", SlowConsumer.RunAsync),
        ("relay", RelayScenario.RunAsync),
        ("legs", Legs.RunAsync),
    ];
    foreach (var (name, run) in scenarios)
    {
        if (!runAll && !named.Contains(name))
        {
            continue;
        }

        try
        {
            await run(server, settings, report);
        }
        catch (Exception ex)
        {
            report.Fail($"{name}: {ex}");
        }
    }

    lock (server.Errors)
    {
        foreach (var error in server.Errors)
        {
            report.Fail($"server handler: {error.GetType().Name}: {error.Message}");
        }
    }
}

report.PrintTargets(quick);
Console.WriteLine();
Console.WriteLine($"Finished in {total.Elapsed.TotalSeconds:0.0} s; {report.Failures.Count} failure(s).");
return report.Failures.Count == 0 ? 0 : 1;

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace Transport.Tests.Leaf.Differential;

/// <summary>
/// Differential testing (issue 26): the Pipelines leaf's reader and the runtime's own client
/// (ManagedWebSocket, <c>WebSocket.CreateFromStream</c> with <c>DangerousDeflateOptions</c>) read the same
/// generated server byte streams in memory, one socket read at a time. Streams built valid (or with one
/// known violation) are checked against what RFC 6455 / 7692 say; random mutations of valid streams are
/// checked client against client. Every difference must be one of <see cref="KnownDifferences"/>.
/// </summary>
/// <remarks>
/// Default: 100,000 cases from a fixed seed (CI). Longer runs and replays, by environment variable:
/// <c>TRANSPORT_DIFF_CASES</c> (how many), <c>TRANSPORT_DIFF_SEED</c> (a number, or <c>random</c>),
/// <c>TRANSPORT_DIFF_CASE</c> (replay one case index, printing everything about it).
/// </remarks>
public sealed class DifferentialTests(ITestOutputHelper output)
{
    /// <summary>The default seed (fixed, so CI runs the same 100,000 cases every time).</summary>
    public const long DefaultSeed = 20_261_226;

    /// <summary>The default case count.</summary>
    public const int DefaultCases = 100_000;

    private const int MaxReported = 8;

    [Fact]
    [Trait("Invariant", "Differential.D1")]
    public void The_Pipelines_leaf_and_the_runtime_read_generated_server_streams_alike_or_as_documented()
    {
        var seed = Seed();
        var replay = Environment.GetEnvironmentVariable("TRANSPORT_DIFF_CASE");
        var (first, count) = replay is null ? (0, Cases()) : (int.Parse(replay, CultureInfo.InvariantCulture), 1);
        var run = Run(seed, first, count, verbose: replay is not null);

        output.WriteLine($"Differential run: {count:N0} cases, seed {seed}, {run.Elapsed.TotalSeconds:F1} s on {Environment.ProcessorCount} threads ({run.CpuTime.TotalSeconds:F1} s CPU).");
        output.WriteLine($"  categories: {Summary(run.Categories)}");
        output.WriteLine($"  agreed with the RFC oracle (Pipelines leaf): {run.OursAgreedWithOracle:N0} of {run.WithOracle:N0}; explained by L1: {run.Explained.GetValueOrDefault(KnownDifferences.OursUnsupportedLayout.Id)}");
        output.WriteLine($"  runtime differences, all documented: {Summary(run.Explained.Where(e => e.Key != KnownDifferences.OursUnsupportedLayout.Id))}");
        foreach (var detail in run.Details)
        {
            output.WriteLine(detail);
        }

        if (!run.Unexplained.IsEmpty)
        {
            var report = new StringBuilder();
            report.AppendLine($"{run.Unexplained.Count} case(s) differ without a documented reason (seed {seed}). First ones:");
            foreach (var failure in run.Unexplained.OrderBy(f => f.Index).Take(MaxReported))
            {
                report.AppendLine(failure.Text);
                report.AppendLine($"  replay: TRANSPORT_DIFF_SEED={seed} TRANSPORT_DIFF_CASE={failure.Index} dotnet test tests/Transport.Tests --filter \"FullyQualifiedName~{nameof(DifferentialTests)}\" --logger \"console;verbosity=detailed\"");
            }

            Assert.Fail(report.ToString());
        }

        if (replay is null && count >= DefaultCases && seed == DefaultSeed)
        {
            // The rules are only worth something if the generator produces what they describe (checked on
            // the default seed: the rarest rules meet a handful of cases per 100,000).
            foreach (var rule in KnownDifferences.Runtime.Append(KnownDifferences.OursUnsupportedLayout))
            {
                Assert.True(run.Explained.GetValueOrDefault(rule.Id) > 0, $"no case needed '{rule.Id}' in {count:N0} cases: the generator no longer reaches it");
            }

            Assert.True(run.Categories.Count >= 18, $"only {run.Categories.Count} categories of stream generated");
        }
    }

    [Fact]
    [Trait("Invariant", "Differential.D1")]
    public void Every_documented_difference_is_listed_in_docs_conformance_md()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Transport.sln")))
        {
            root = root.Parent;
        }

        Assert.NotNull(root);
        var document = File.ReadAllText(Path.Combine(root.FullName, "docs", "conformance.md"));
        foreach (var rule in KnownDifferences.Runtime.Append(KnownDifferences.OursUnsupportedLayout))
        {
            Assert.Contains($"| {rule.Id} |", document, StringComparison.Ordinal);
        }
    }

    private static long Seed() => Environment.GetEnvironmentVariable("TRANSPORT_DIFF_SEED") switch
    {
        null or "" => DefaultSeed,
        "random" => Random.Shared.NextInt64(1, long.MaxValue),
        var text => long.Parse(text, CultureInfo.InvariantCulture),
    };

    private static int Cases() => Environment.GetEnvironmentVariable("TRANSPORT_DIFF_CASES") is { Length: > 0 } text
        ? int.Parse(text, CultureInfo.InvariantCulture)
        : DefaultCases;

    private static string Summary(IEnumerable<KeyValuePair<string, int>> counts) =>
        string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value:N0}"));

    private static RunOutcome Run(long seed, int first, int count, bool verbose)
    {
        var outcome = new RunOutcome();
        var next = first - 1;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();

        // Dedicated threads without a SynchronizationContext: a pool thread blocked in a case would
        // starve the continuations the next case waits for.
        var workers = Enumerable.Range(0, Math.Min(Environment.ProcessorCount, count)).Select(_ => new Thread(() =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < first + count)
            {
                Check(ServerStreamGenerator.Generate(seed, index), outcome, verbose);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        outcome.Elapsed = watch.Elapsed;
        outcome.CpuTime = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        return outcome;
    }

    private static void Check(ServerCase c, RunOutcome outcome, bool verbose)
    {
        RunResult ours, runtime;
        try
        {
            ours = ClientRunners.RunPipelinesLeaf(c);
            runtime = ClientRunners.RunRuntime(c);
        }
        catch (Exception ex)
        {
            outcome.Unexplained.Add((c.Index, $"{c.Describe()}\n  a client runner threw: {ex}"));
            return;
        }

        outcome.Categories.AddOrUpdate(c.Category, 1, (_, n) => n + 1);
        var problems = new List<string>();
        var reference = c.Oracle ?? ours;
        if (c.Oracle is { } oracle)
        {
            Interlocked.Increment(ref outcome.WithOracle);
            if (Comparison.Compare(oracle, ours) is null)
            {
                Interlocked.Increment(ref outcome.OursAgreedWithOracle);
            }
            else if (KnownDifferences.OursUnsupportedLayout.Applies(c, oracle, ours))
            {
                outcome.Explained.AddOrUpdate(KnownDifferences.OursUnsupportedLayout.Id, 1, (_, n) => n + 1);
            }
            else
            {
                problems.Add($"the Pipelines leaf differs from the RFC oracle: {Comparison.Compare(oracle, ours)}");
            }
        }

        if (Comparison.Compare(reference, runtime) is { } difference)
        {
            var rule = KnownDifferences.Runtime.FirstOrDefault(r => r.Applies(c, reference, runtime));
            if (rule is null)
            {
                problems.Add($"the runtime differs from {(c.Oracle is null ? "the Pipelines leaf" : "the RFC oracle")} without a documented reason: {difference}");
            }
            else
            {
                outcome.Explained.AddOrUpdate(rule.Id, 1, (_, n) => n + 1);
            }
        }

        var text = $"{c.Describe()}\n  oracle:  {c.Oracle?.Describe() ?? "(none: mutated)"}\n  ours:    {ours.Describe()}\n  runtime: {runtime.Describe()}";
        if (problems.Count > 0)
        {
            outcome.Unexplained.Add((c.Index, string.Join("; ", problems) + "\n" + text));
        }
        else if (verbose)
        {
            outcome.Details.Add(text);
        }
    }

    private sealed class RunOutcome
    {
        public int WithOracle;
        public int OursAgreedWithOracle;

        public ConcurrentDictionary<string, int> Categories { get; } = new();

        public ConcurrentDictionary<string, int> Explained { get; } = new();

        public ConcurrentBag<(int Index, string Text)> Unexplained { get; } = [];

        public ConcurrentBag<string> Details { get; } = [];

        public TimeSpan Elapsed { get; set; }

        public TimeSpan CpuTime { get; set; }
    }
}

/// <summary>How two results differ (null: they agree).</summary>
internal static class Comparison
{
    public static string? Compare(RunResult expected, RunResult actual)
    {
        var count = Math.Min(expected.Messages.Count, actual.Messages.Count);
        for (var i = 0; i < count; i++)
        {
            if (expected.Messages[i].Kind != actual.Messages[i].Kind || !expected.Messages[i].Payload.AsSpan().SequenceEqual(actual.Messages[i].Payload))
            {
                return $"message {i} differs";
            }
        }

        if (expected.Messages.Count != actual.Messages.Count)
        {
            return $"{expected.Messages.Count} messages vs {actual.Messages.Count}";
        }

        if (expected.End != actual.End)
        {
            return $"end {expected.End} vs {actual.End}";
        }

        return expected.End switch
        {
            EndKind.PeerClose when expected.CloseCode != actual.CloseCode || (expected.CloseReason ?? string.Empty) != (actual.CloseReason ?? string.Empty) =>
                $"peer close {expected.CloseCode} '{expected.CloseReason}' vs {actual.CloseCode} '{actual.CloseReason}'",
            EndKind.Failed when expected.SentCloseCode != actual.SentCloseCode => $"close code sent {expected.SentCloseCode} vs {actual.SentCloseCode}",
            _ => null,
        };
    }
}

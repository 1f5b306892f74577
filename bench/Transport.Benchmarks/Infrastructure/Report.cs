using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Transport.Benchmarks.Infrastructure;

/// <summary>
/// Collects Markdown tables (printed as they are produced), the issue targets checked by the
/// scenarios (printed at the end), and the failures that make the exit code non-zero. With
/// <c>BENCH_OUT=path</c> every per-round sample is also appended to that file as one JSON object
/// per line, so several runs of the same command can be aggregated afterwards
/// (bench/aggregate.py).
/// </summary>
internal sealed class Report
{
    private static readonly string? OutPath = Environment.GetEnvironmentVariable("BENCH_OUT");
    private readonly List<string> _failures = [];
    private readonly List<string[]> _targets = [];
    private readonly string _runId = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    public IReadOnlyList<string> Failures => _failures;

    public void Fail(string what)
    {
        _failures.Add(what);
        Console.WriteLine($"FAIL: {what}");
    }

    public void Heading(string text)
    {
        Console.WriteLine();
        Console.WriteLine($"### {text}");
        Console.WriteLine();
    }

    public void Line(string text) => Console.WriteLine(text);

    public void Table(string[] header, IEnumerable<string[]> rows)
    {
        var sb = new StringBuilder();
        sb.Append("| ").AppendJoin(" | ", header).AppendLine(" |");
        sb.Append('|').AppendJoin("|", header.Select(h => "---")).AppendLine("|");
        foreach (var row in rows)
        {
            sb.Append("| ").AppendJoin(" | ", row).AppendLine(" |");
        }

        Console.Write(sb.ToString());
        Console.Out.Flush();
    }

    /// <summary>Records one issue target as measured in this run: met, missed, or not measured (NaN).</summary>
    public void Target(string target, string measured, bool? met) =>
        _targets.Add([target, measured, met switch { true => "met", false => "missed", null => "-" }]);

    /// <summary>Prints the targets recorded during this run (nothing when none was).</summary>
    public void PrintTargets(bool quick)
    {
        if (_targets.Count == 0)
        {
            return;
        }

        Heading(quick ? "Targets (quick run: counts too small, verdicts meaningless)" : "Targets (issue 14, this run; same-round medians)");
        Table(["target", "measured", "verdict"], _targets);
    }

    /// <summary>Appends one sample to BENCH_OUT (when set).</summary>
    public void Record(string scenario, string label, string client, int round, IReadOnlyDictionary<string, double> values)
    {
        if (OutPath is not { Length: > 0 })
        {
            return;
        }

        var record = new Dictionary<string, object>
        {
            ["run"] = _runId,
            ["scenario"] = scenario,
            ["label"] = label,
            ["client"] = client,
            ["round"] = round,
        };
        foreach (var (key, value) in values)
        {
            record[key] = double.IsFinite(value) ? value : -1;
        }

        lock (_failures)
        {
            File.AppendAllText(OutPath, JsonSerializer.Serialize(record) + "\n");
        }
    }

    public static string N(double value, int decimals = 0) => value.ToString("N" + decimals, CultureInfo.InvariantCulture);

    public static string Ratio(double value) => double.IsNaN(value) ? "-" : value.ToString("0.00", CultureInfo.InvariantCulture) + "x";

    public static string Percent(double value) => double.IsNaN(value) ? "-" : value.ToString("0", CultureInfo.InvariantCulture) + "%";
}

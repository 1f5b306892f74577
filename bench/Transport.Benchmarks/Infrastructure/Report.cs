using System.Globalization;
using System.Text;

namespace Transport.Benchmarks.Infrastructure;

/// <summary>Collects Markdown tables (printed as they are produced) and the failures that make the exit code non-zero.</summary>
internal sealed class Report
{
    private readonly List<string> _failures = [];

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

    public static string N(double value, int decimals = 0) => value.ToString("N" + decimals, CultureInfo.InvariantCulture);

    public static string Ratio(double value) => double.IsNaN(value) ? "-" : value.ToString("0.00", CultureInfo.InvariantCulture) + "x";
}

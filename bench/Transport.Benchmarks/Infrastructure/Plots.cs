using System.Globalization;
using System.Text.Json;
using ScottPlot;

namespace Transport.Benchmarks.Infrastructure;

/// <summary>
/// Pictures from the raw results (BENCH_OUT JSON lines), one command, no timing of its own:
/// <c>dotnet run -c Release --project bench/Transport.Benchmarks -- --plots RESULTS.jsonl OUTDIR</c>.
/// Renders, per label of the "tail" and "sendload" scenarios, the latency percentile curves per client
/// (p50 to max, both axes logarithmic; the median over rounds of each percentile), and from the "receive"
/// scenario the throughput ratio to raw per size (the median over rounds of the same-round ratio).
/// </summary>
internal static class Plots
{
    private const string RawReceiveClient = "RawReused";

    public static int Run(string input, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var records = File.ReadLines(input)
            .Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .ToList();
        var written = new List<string>();
        foreach (var scenario in new[] { "tail", "sendload" })
        {
            foreach (var group in records.Where(r => Str(r, "scenario") == scenario).GroupBy(r => Str(r, "label")))
            {
                var path = Path.Combine(outDir, $"{scenario}-{Slug(group.Key)}.png");
                LatencyCurves(scenario, group.Key, group.ToList(), path);
                written.Add(path);
            }
        }

        var receive = records.Where(r => Str(r, "scenario") == "receive").ToList();
        if (receive.Count > 0)
        {
            var path = Path.Combine(outDir, "receive-ratios.png");
            ThroughputRatios(receive, path);
            written.Add(path);
        }

        foreach (var path in written)
        {
            Console.WriteLine(path);
        }

        if (written.Count == 0)
        {
            Console.Error.WriteLine($"{input}: no tail, sendload or receive records to plot.");
            return 1;
        }

        return 0;
    }

    private static void LatencyCurves(string scenario, string label, List<JsonElement> records, string path)
    {
        var plot = new Plot();
        int colour = 0;
        foreach (var client in records.GroupBy(r => Str(r, "client")))
        {
            // Percentile keys "p50_us" .. "p100_us": the median over rounds of each.
            var points = client.SelectMany(r => r.EnumerateObject())
                .Where(p => p.Name.StartsWith('p') && p.Name.EndsWith("_us", StringComparison.Ordinal)
                    && double.TryParse(p.Name[1..^3], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                .GroupBy(p => double.Parse(p.Name[1..^3], NumberStyles.Float, CultureInfo.InvariantCulture))
                .Select(g => (Percentile: g.Key, Micros: Stats.Median(g.Select(p => p.Value.GetDouble()))))
                .Where(p => p.Micros > 0)
                .OrderBy(p => p.Percentile)
                .ToArray();
            if (points.Length == 0)
            {
                continue;
            }

            var scatter = plot.Add.Scatter(points.Select(p => Nines(p.Percentile)).ToArray(), points.Select(p => Math.Log10(p.Micros)).ToArray());
            scatter.LegendText = client.Key;
            scatter.Color = new ScottPlot.Palettes.Category20().GetColor(colour++);
            scatter.LineWidth = 2;
            scatter.MarkerSize = 6;
        }

        // x: "nines" (p50 = 0.3, p90 = 1, p99 = 2, p99.9 = 3, ...; max drawn at 5); y: log10 of µs.
        double[] ticks = [50, 90, 99, 99.9, 99.99, 100];
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            ticks.Select(Nines).ToArray(), ticks.Select(t => t == 100 ? "max" : "p" + t.ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = y => Math.Pow(10, y).ToString("N0", CultureInfo.InvariantCulture),
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
        };
        plot.Title($"{scenario} {label}: latency percentiles (median of rounds)");
        plot.XLabel("percentile (log scale of 1 - p)");
        plot.YLabel("µs (log scale)");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 1000, 650);
    }

    private static void ThroughputRatios(List<JsonElement> records, string path)
    {
        var plot = new Plot();
        var sizes = records.Select(r => Str(r, "label")).Distinct().ToArray();
        var clients = records.Select(r => Str(r, "client")).Where(c => c != RawReceiveClient).Distinct().ToArray();
        var bars = new List<Bar>();
        var palette = new ScottPlot.Palettes.Category20();
        for (int s = 0; s < sizes.Length; s++)
        {
            // Same run and round as raw: the ratio, then its median.
            var raw = records.Where(r => Str(r, "label") == sizes[s] && Str(r, "client") == RawReceiveClient)
                .ToDictionary(r => (Str(r, "run"), r.GetProperty("round").GetInt32()), r => r.GetProperty("msgs_per_s").GetDouble());
            for (int c = 0; c < clients.Length; c++)
            {
                var ratios = records.Where(r => Str(r, "label") == sizes[s] && Str(r, "client") == clients[c])
                    .Select(r => raw.TryGetValue((Str(r, "run"), r.GetProperty("round").GetInt32()), out var baseline) && baseline > 0 ? r.GetProperty("msgs_per_s").GetDouble() / baseline : double.NaN)
                    .Where(double.IsFinite)
                    .ToArray();
                if (ratios.Length == 0)
                {
                    continue;
                }

                bars.Add(new Bar { Position = s * (clients.Length + 1) + c, Value = Stats.Median(ratios), FillColor = palette.GetColor(c) });
            }
        }

        plot.Add.Bars(bars);
        for (int c = 0; c < clients.Length; c++)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = clients[c], FillColor = palette.GetColor(c) });
        }

        var line = plot.Add.HorizontalLine(1);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Black;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            sizes.Select((_, s) => s * (clients.Length + 1) + (clients.Length - 1) / 2.0).ToArray(), sizes);
        plot.Axes.Margins(bottom: 0);
        plot.Title($"Receive throughput, ratio to raw ClientWebSocket ({RawReceiveClient}) in the same round (median of rounds)");
        plot.YLabel("x raw");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1200, 650);
    }

    // -log10(1 - p/100): p50 -> 0.30, p99 -> 2, p99.9 -> 3; max (p100) drawn at 5.
    private static double Nines(double percentile) => percentile >= 100 ? 5 : -Math.Log10(1 - percentile / 100);

    private static string Str(JsonElement record, string name) => record.TryGetProperty(name, out var v) ? v.ToString() : string.Empty;

    private static string Slug(string label) => new(label.Select(ch => char.IsLetterOrDigit(ch) ? ch : '-').ToArray());
}

using System.Text.Json;
using ScottPlot;

namespace SharpSeek.Evaluation.Suite;

/// <summary>
/// PNG comparing suite results of several models, drawn with ScottPlot 5: accuracy (%) of every scored task on top,
/// bits per character of every perplexity task below (tokenizer-independent), one bar colour per model.
/// </summary>
public static class SuitePlot
{
    /// <summary>A suite result written as JSON by the eval verb.</summary>
    public static SuiteResult Read(string path)
    {
        if (!File.Exists(path)) throw new DataException($"suite result file {path} does not exist");
        try { return JsonSerializer.Deserialize<SuiteResult>(File.ReadAllText(path)) ?? throw new DataException($"{path} is empty"); }
        catch (JsonException e) { throw new DataException($"{path} is not a suite result: {e.Message}"); }
    }

    /// <summary>Draws <paramref name="runs"/> (label, result) to <paramref name="path"/> (temporary file + rename).</summary>
    public static void Save(IReadOnlyList<(string Label, SuiteResult Result)> runs, string path, string title)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows: 2, columns: 1);
        Panel(multiplot.GetPlot(0), runs, r => r.Metric == "accuracy" ? r.Value : null, $"{title}: accuracy (%)", "accuracy (%)");
        Panel(multiplot.GetPlot(1), runs, r => r.Metric == "perplexity" ? r.BitsPerChar : null, "held-out bits per character (lower is better)", "bits per char");
        int tasks = runs.SelectMany(r => r.Result.Results).Select(r => r.Name).Distinct().Count();
        string tmp = path + ".tmp.png";
        multiplot.SavePng(tmp, Math.Clamp(24 * tasks * Math.Max(1, runs.Count), 1000, 2400), 1000);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Grouped bars: one group per task that has a value in some run, one bar per run; skipped tasks leave a gap.</summary>
    private static void Panel(Plot plot, IReadOnlyList<(string Label, SuiteResult Result)> runs, Func<SuiteTaskResult, double?> value, string title, string yLabel)
    {
        var names = runs.SelectMany(r => r.Result.Results).Where(r => value(r) is not null).Select(r => r.Name).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        double width = 0.8 / Math.Max(1, runs.Count);
        for (int m = 0; m < runs.Count; m++)
        {
            var bars = new List<Bar>();
            foreach (var (name, i) in names.Select((n, i) => (n, i)))
            {
                var r = runs[m].Result.Results.FirstOrDefault(x => x.Name == name);
                if (r is not null && value(r) is double v && double.IsFinite(v))
                    bars.Add(new Bar { Position = i - 0.4 + width * (m + 0.5), Value = v, Size = width * 0.95, FillColor = palette.GetColor(m) });
            }
            var plottable = plot.Add.Bars(bars);
            plottable.LegendText = runs[m].Label;
        }
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < names.Count; i++) ticks.AddMajor(i, names[i]);
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 110;                                              // room for the rotated task names
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
    }
}

using System.Text.Json;
using ScottPlot;

namespace SharpSeek.Training;

/// <summary>
/// PNG of a PPO run's metrics against step, one panel each, drawn with ScottPlot 5: reward (train, and val where evaluated),
/// KL to the reference (and β when adaptive), entropy, clip fraction, value loss, explained variance.
/// </summary>
public static class PpoPlot
{
    public const string FileName = "ppo.png";

    /// <summary>(panel title, metric name) in drawing order; "val_" + name is drawn as markers where present.</summary>
    public static readonly IReadOnlyList<(string Title, string Metric)> Panels =
    [
        ("reward", "reward"), ("KL to reference", "kl"), ("entropy", "entropy"),
        ("clip fraction", "clip_fraction"), ("value loss", "value_loss"), ("explained variance", "explained_variance"),
    ];

    /// <summary>The records of a metrics.jsonl file (lines that do not parse are skipped); empty when it does not exist.</summary>
    public static IReadOnlyList<MetricsRecord> ReadMetrics(string path)
    {
        if (!File.Exists(path)) return [];
        var records = new List<MetricsRecord>();
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try { if (JsonSerializer.Deserialize<MetricsRecord>(line) is { } r) records.Add(r); }
            catch (JsonException) { }                                       // a line cut short by a crash
        }
        return records;
    }

    /// <summary>Draws <paramref name="records"/> to <paramref name="path"/> (temporary file + rename).</summary>
    public static void Save(IReadOnlyList<MetricsRecord> records, string path, string title) =>
        SaveGrid(path, title, Panels.Select(p => p.Title).ToList(), (plot, i) =>
        {
            string metric = Panels[i].Metric;
            AddSeries(plot, records, metric, "train", markers: false);
            AddSeries(plot, records, "val_" + metric, "val", markers: true);
            if (metric == "kl" && records.Select(r => Value(r, "beta")).Where(v => v is not null).Distinct().Count() > 1)
            {
                var beta = AddSeries(plot, records, "beta", "β", markers: false);
                if (beta is not null) { beta.Axes.YAxis = plot.Axes.Right; beta.LinePattern = LinePattern.Dashed; plot.Axes.Right.Label.Text = "β"; }
            }
        });

    /// <summary>
    /// A 2 × 3 grid of panels titled <paramref name="panelTitles"/> (the first prefixed with <paramref name="title"/>), each
    /// filled by <paramref name="draw"/>(plot, index), with step on x and the legend lower right, saved as a 1500 × 800 PNG
    /// (temporary file + rename). Shared by the PPO and GRPO plots.
    /// </summary>
    internal static void SaveGrid(string path, string title, IReadOnlyList<string> panelTitles, Action<Plot, int> draw)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(panelTitles.Count);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows: 2, columns: 3);
        for (int i = 0; i < panelTitles.Count; i++)
        {
            var plot = multiplot.GetPlot(i);
            draw(plot, i);
            plot.Title(i == 0 ? $"{title}: {panelTitles[i]}" : panelTitles[i]);
            plot.XLabel("step");
            plot.ShowLegend(Alignment.LowerRight);
        }
        string tmp = path + ".tmp.png";
        multiplot.SavePng(tmp, 1500, 800);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>One metric against step as a line (markers for evaluations); null when no record has a finite value.</summary>
    internal static ScottPlot.Plottables.Scatter? AddSeries(Plot plot, IReadOnlyList<MetricsRecord> records, string metric, string label, bool markers)
    {
        var points = records.Select(r => (r.Step, Value: Value(r, metric))).Where(p => p.Value is double v && double.IsFinite(v)).ToList();
        if (points.Count == 0) return null;
        var s = plot.Add.Scatter(points.Select(p => (double)p.Step).ToArray(), points.Select(p => p.Value!.Value).ToArray());
        s.LegendText = label;
        s.MarkerSize = markers ? 6 : 0;
        s.LineWidth = markers ? 2 : 1.5f;
        return s;
    }

    internal static double? Value(MetricsRecord r, string metric) => r.Metrics is { } m && m.TryGetValue(metric, out var v) ? v : null;
}

using ScottPlot;

namespace SharpSeek.Training;

/// <summary>
/// PNG of a GRPO run's metrics against step, drawn with ScottPlot 5 in six panels: reward mean ± within-group std, accuracy and
/// format rate, KL to the reference, completion length, clip fraction, and cumulative generation vs. optimisation seconds.
/// Evaluations ("val_" metrics) are drawn as markers.
/// </summary>
public static class GrpoPlot
{
    public const string FileName = "grpo.png";

    /// <summary>(panel title, (metric, legend)…) in drawing order.</summary>
    public static readonly IReadOnlyList<(string Title, (string Metric, string Label)[] Series)> Panels =
    [
        ("reward (mean ± group std)", [("reward_mean", "train"), ("val_reward", "val")]),
        ("accuracy and format rate", [("accuracy", "accuracy"), ("format_rate", "format"), ("val_accuracy", "val accuracy"), ("val_format_rate", "val format")]),
        ("KL to reference (k3 per token)", [("kl", "train"), ("val_kl", "val")]),
        ("completion length (tokens)", [("completion_length", "train"), ("val_completion_length", "val")]),
        ("clip fraction", [("clip_fraction", "train")]),
        ("time (s, cumulative)", [("generation_seconds", "generation"), ("optimize_seconds", "optimisation")]),
    ];

    /// <summary>Draws <paramref name="records"/> to <paramref name="path"/> (temporary file + rename).</summary>
    public static void Save(IReadOnlyList<MetricsRecord> records, string path, string title)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(Panels.Count);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows: 2, columns: 3);
        for (int i = 0; i < Panels.Count; i++)
        {
            var (panelTitle, series) = Panels[i];
            var plot = multiplot.GetPlot(i);
            foreach (var (metric, label) in series) AddSeries(plot, records, metric, label, markers: metric.StartsWith("val_", StringComparison.Ordinal));
            if (i == 0) AddStdBand(plot, records);
            plot.Title(i == 0 ? $"{title}: {panelTitle}" : panelTitle);
            plot.XLabel("step");
            plot.ShowLegend(Alignment.LowerRight);
        }
        string tmp = path + ".tmp.png";
        multiplot.SavePng(tmp, 1500, 800);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>reward_mean ± reward_std as two dashed lines.</summary>
    private static void AddStdBand(Plot plot, IReadOnlyList<MetricsRecord> records)
    {
        var points = records.Select(r => (r.Step, Mean: Value(r, "reward_mean"), Std: Value(r, "reward_std")))
                            .Where(p => p.Mean is double m && p.Std is double s && double.IsFinite(m) && double.IsFinite(s)).ToList();
        if (points.Count == 0) return;
        double[] xs = points.Select(p => (double)p.Step).ToArray();
        foreach (var sign in new[] { 1, -1 })
        {
            var s = plot.Add.Scatter(xs, points.Select(p => p.Mean!.Value + sign * p.Std!.Value).ToArray());
            s.MarkerSize = 0;
            s.LineWidth = 1;
            s.LinePattern = LinePattern.Dashed;
            s.LegendText = sign > 0 ? "± std" : "";
        }
    }

    private static void AddSeries(Plot plot, IReadOnlyList<MetricsRecord> records, string metric, string label, bool markers)
    {
        var points = records.Select(r => (r.Step, Value: Value(r, metric))).Where(p => p.Value is double v && double.IsFinite(v)).ToList();
        if (points.Count == 0) return;
        var s = plot.Add.Scatter(points.Select(p => (double)p.Step).ToArray(), points.Select(p => p.Value!.Value).ToArray());
        s.LegendText = label;
        s.MarkerSize = markers ? 6 : 0;
        s.LineWidth = markers ? 2 : 1.5f;
    }

    private static double? Value(MetricsRecord r, string metric) => r.Metrics is { } m && m.TryGetValue(metric, out var v) ? v : null;
}

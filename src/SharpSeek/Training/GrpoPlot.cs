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
    public static void Save(IReadOnlyList<MetricsRecord> records, string path, string title) =>
        PpoPlot.SaveGrid(path, title, Panels.Select(p => p.Title).ToList(), (plot, i) =>
        {
            foreach (var (metric, label) in Panels[i].Series)
                PpoPlot.AddSeries(plot, records, metric, label, markers: metric.StartsWith("val_", StringComparison.Ordinal));
            if (i == 0) AddStdBand(plot, records);
        });

    /// <summary>reward_mean ± reward_std as two dashed lines.</summary>
    private static void AddStdBand(Plot plot, IReadOnlyList<MetricsRecord> records)
    {
        var points = records.Select(r => (r.Step, Mean: PpoPlot.Value(r, "reward_mean"), Std: PpoPlot.Value(r, "reward_std")))
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
}

using ScottPlot;

namespace SharpSeek.Training;

/// <summary>PNG of train/val loss (left axis) and learning rate (right axis) against step, drawn with ScottPlot 5.</summary>
public static class LossPlot
{
    public const string FileName = "loss.png";

    /// <summary>Draws <paramref name="records"/> to <paramref name="path"/> (temporary file + rename).</summary>
    public static void Save(IReadOnlyList<MetricsRecord> records, string path, string title)
    {
        var plot = new Plot();
        var train = records.Where(r => r.Loss is not null).ToList();
        var val = records.Where(r => r.ValLoss is not null).ToList();
        if (train.Count > 0)
        {
            var s = plot.Add.Scatter(train.Select(r => (double)r.Step).ToArray(), train.Select(r => r.Loss!.Value).ToArray());
            s.LegendText = "train loss"; s.MarkerSize = 0; s.LineWidth = 1.5f;
        }
        if (val.Count > 0)
        {
            var s = plot.Add.Scatter(val.Select(r => (double)r.Step).ToArray(), val.Select(r => r.ValLoss!.Value).ToArray());
            s.LegendText = "val loss"; s.MarkerSize = 5; s.LineWidth = 2;
        }
        if (train.Count > 0)
        {
            var s = plot.Add.Scatter(train.Select(r => (double)r.Step).ToArray(), train.Select(r => r.Lr).ToArray());
            s.LegendText = "learning rate"; s.MarkerSize = 0; s.LinePattern = LinePattern.Dashed;
            s.Axes.YAxis = plot.Axes.Right;
            plot.Axes.Right.Label.Text = "learning rate";
        }
        Finish(plot, title, path);
    }

    /// <summary>Train (thin) and val (markers) loss of several runs on one axis, e.g. fp32 vs bf16 (temporary file + rename).</summary>
    public static void SaveComparison(IReadOnlyDictionary<string, IReadOnlyList<MetricsRecord>> runs, string path, string title)
    {
        var plot = new Plot();
        foreach (var (name, records) in runs)
        {
            var train = records.Where(r => r.Loss is not null).ToList();
            var val = records.Where(r => r.ValLoss is not null).ToList();
            var t = plot.Add.Scatter(train.Select(r => (double)r.Step).ToArray(), train.Select(r => r.Loss!.Value).ToArray());
            t.LegendText = $"{name} train"; t.MarkerSize = 0; t.LineWidth = 1.2f;
            var v = plot.Add.Scatter(val.Select(r => (double)r.Step).ToArray(), val.Select(r => r.ValLoss!.Value).ToArray());
            v.LegendText = $"{name} val"; v.MarkerSize = 6; v.LineWidth = 2; v.LinePattern = LinePattern.Dashed;
        }
        Finish(plot, title, path);
    }

    /// <summary>Titles and labels the plot, then writes it as a PNG through a temporary file and a rename.</summary>
    private static void Finish(Plot plot, string title, string path)
    {
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.ShowLegend(Alignment.UpperRight);                   // curves fall from the upper left: that corner stays clear
        string tmp = path + ".tmp.png";
        plot.SavePng(tmp, 900, 540);
        File.Move(tmp, path, overwrite: true);
    }
}

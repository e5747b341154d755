using System.Globalization;
using ScottPlot;

namespace SharpSeek.Analysis;

/// <summary>
/// PNG heatmaps of <see cref="AttentionMaps"/>, drawn with ScottPlot 5: one head with token labels (query rows top to
/// bottom, key columns left to right), a grid of every head of a layer, and optionally a first panel with the mean
/// attention entropy per head per layer.
/// </summary>
public static class AttentionPlot
{
    /// <summary>Token labels for the axes: whitespace made visible (↵ for a newline, · for a space), at most 12 characters.</summary>
    public static string Label(string token)
    {
        string s = token.Replace("\r", "\\r").Replace("\n", "↵").Replace("\t", "⇥").Replace(' ', '·');
        return s.Length == 0 ? "∅" : s.Length > 12 ? s[..11] + "…" : s;
    }

    /// <summary>One head's (T, T) map with token labels, saved as a PNG (temporary file + rename).</summary>
    public static void SaveHead(float[,] map, IReadOnlyList<string> tokens, string path, string title)
    {
        var plot = new Plot();
        Heatmap(plot, map, tokens, labels: true, colorbar: true);
        plot.Title(title);
        int side = Math.Clamp(200 + 28 * tokens.Count, 500, 1600);
        Save(path, p => plot.SavePng(p, side + 120, side));
    }

    /// <summary>
    /// Every head of one layer in a grid (token labels when the text is short), preceded by the (L, H) entropy summary when
    /// <paramref name="entropy"/> is given; saved as a PNG (temporary file + rename).
    /// </summary>
    public static void SaveGrid(IReadOnlyList<float[,]> heads, IReadOnlyList<string> tokens, string path, string title, double[,]? entropy = null)
    {
        int panels = heads.Count + (entropy is null ? 0 : 1);
        int columns = (int)Math.Ceiling(Math.Sqrt(panels)), rows = (panels + columns - 1) / columns;
        var multiplot = new Multiplot();
        multiplot.AddPlots(panels);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows: rows, columns: columns);
        bool labels = tokens.Count <= 24;
        int first = 0;
        if (entropy is not null)
        {
            var plot = multiplot.GetPlot(0);
            EntropyPanel(plot, entropy);
            first = 1;
        }
        for (int h = 0; h < heads.Count; h++)
        {
            var plot = multiplot.GetPlot(first + h);
            Heatmap(plot, heads[h], tokens, labels, colorbar: false);
            plot.Title(h == 0 ? $"{title}: head 0" : $"head {h}");
        }
        int cell = labels ? Math.Clamp(160 + 22 * tokens.Count, 360, 700) : 360;
        Save(path, p => multiplot.SavePng(p, columns * cell, rows * cell));
    }

    /// <summary>The (L, H) mean entropies as a heatmap: layer rows top to bottom, head columns, values written in the cells.</summary>
    private static void EntropyPanel(Plot plot, double[,] entropy)
    {
        int layers = entropy.GetLength(0), heads = entropy.GetLength(1);
        var hm = plot.Add.Heatmap(entropy);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        hm.Rectangle = new CoordinateRect(0, heads, 0, layers);
        for (int l = 0; l < layers; l++)
            for (int h = 0; h < heads; h++)
            {
                var text = plot.Add.Text(entropy[l, h].ToString("F2", CultureInfo.InvariantCulture), h + 0.5, layers - l - 0.5);
                text.LabelFontSize = Math.Clamp(120f / Math.Max(layers, heads), 8, 16);
                text.LabelFontColor = Colors.White;
                text.LabelAlignment = Alignment.MiddleCenter;
            }
        plot.Axes.Bottom.TickGenerator = Ticks(Enumerable.Range(0, heads).Select(h => h.ToString(CultureInfo.InvariantCulture)).ToList(), reverse: false);
        plot.Axes.Left.TickGenerator = Ticks(Enumerable.Range(0, layers).Select(l => l.ToString(CultureInfo.InvariantCulture)).ToList(), reverse: true);
        plot.Axes.SetLimits(0, heads, 0, layers);
        plot.XLabel("head");
        plot.YLabel("layer");
        plot.Title("mean attention entropy (nats)");
    }

    /// <summary>Draws <paramref name="map"/> (T, S) with query 0 on the top row and key 0 in the left column.</summary>
    private static void Heatmap(Plot plot, float[,] map, IReadOnlyList<string> tokens, bool labels, bool colorbar)
    {
        int t = map.GetLength(0), s = map.GetLength(1);
        var values = new double[t, s];
        for (int q = 0; q < t; q++)
            for (int k = 0; k < s; k++) values[q, k] = map[q, k];
        var hm = plot.Add.Heatmap(values);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        hm.ManualRange = new ScottPlot.Range(0, 1);
        hm.Rectangle = new CoordinateRect(0, s, 0, t);
        if (colorbar) plot.Add.ColorBar(hm);
        plot.Axes.SetLimits(0, s, 0, t);
        if (labels)
        {
            var names = tokens.Select(Label).ToList();
            plot.Axes.Bottom.TickGenerator = Ticks(names, reverse: false);
            plot.Axes.Bottom.TickLabelStyle.Rotation = 90;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            plot.Axes.Left.TickGenerator = Ticks(names, reverse: true);
        }
        plot.XLabel("key");
        plot.YLabel("query");
    }

    /// <summary>A label at each cell centre i + 0.5 (from the top when <paramref name="reverse"/>).</summary>
    private static ScottPlot.TickGenerators.NumericManual Ticks(IReadOnlyList<string> names, bool reverse)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < names.Count; i++) ticks.AddMajor(reverse ? names.Count - i - 0.5 : i + 0.5, names[i]);
        return ticks;
    }

    /// <summary>Runs <paramref name="save"/> on a temporary name, then renames it to <paramref name="path"/>.</summary>
    private static void Save(string path, Action<string> save)
    {
        string tmp = path + ".tmp.png";
        save(tmp);
        File.Move(tmp, path, overwrite: true);
    }
}

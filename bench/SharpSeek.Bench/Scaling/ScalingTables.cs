using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using ScottPlot;
using SharpSeek.Bench.Decode;
using SharpSeek.Bench.Harness;
using SharpSeek.Distributed;

namespace SharpSeek.Bench.Scaling;

/// <summary>
/// The predicted-scaling tables of docs/scaling.md, from <see cref="ScalingModel"/> and the inputs measured by
/// <c>bench/run scaling</c> (per-core training FLOP/s). Written by the benchmark itself and, from a saved result,
/// by <c>SharpSeek.Bench worker scaling-tables [--from docs/results/scaling.json]</c>: docs/results/scaling-tables.md and
/// the plots docs/scaling-efficiency-{2,32}core.png (fixed global batch).
/// </summary>
public static class ScalingTables
{
    /// <summary>A model the tables predict: parameters and the batch of one machine (rows × block tokens per optimizer step).</summary>
    public sealed record ModelSpec(string Name, long Parameters, int Rows, int Block)
    {
        public double BatchTokens => (double)Rows * Block;
    }

    /// <summary>One column of the tables: gradient bytes per element and whether the all-reduce overlaps the compute.</summary>
    public sealed record Variant(string Name, int BytesPerElement, bool Overlap);

    public static readonly double[] LinksGbps = [10, 25, 100];
    public static readonly int[] Machines = [1, 2, 4, 8, 16, 32, 64];

    /// <summary>Cores per machine of the tables: 2 (this machine) and 32 (a common CPU server; per-core rate assumed to scale linearly).</summary>
    public static readonly int[] Cores = [2, 32];
    public static readonly Variant[] Variants = [new("fp32", 4, false), new("fp32 + overlap", 4, true), new("bf16", 2, false), new("bf16 + overlap", 2, true)];

    /// <summary>α between hosts: not measurable on one host; a typical MPI-over-TCP small-message latency on Ethernet (assumed).</summary>
    public const double NetworkLatencySeconds = 50e-6;

    /// <summary>"Stops paying off": efficiency below this, or a doubling of N adding less than <see cref="MinGainPerDoubling"/>.</summary>
    public const double MinEfficiency = 0.5, MinGainPerDoubling = 0.10;

    public static IReadOnlyList<ModelSpec> Models(long configAParameters) =>
    [
        new("config A", configAParameters, 8, 256),
        new("GPT-2 124M", 124_439_808, 8, 1024),
        new("1B", 1_000_000_000, 8, 2048),
    ];

    public static ScalingScenario Scenario(ModelSpec m, BatchScaling batch, double machineFlops, double gbps, Variant v) => new()
    {
        Parameters = m.Parameters, BatchTokens = m.BatchTokens, Batch = batch, MachineFlopsPerSecond = machineFlops,
        LinkBytesPerSecond = ScalingModel.LinkBytesPerSecond(gbps), LatencySeconds = NetworkLatencySeconds,
        BytesPerElement = v.BytesPerElement, Overlap = v.Overlap,
    };

    /// <summary><c>worker scaling-tables</c>: reads model_inputs of a saved result and writes the tables and plots.</summary>
    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        string from = a.Get("from", "") is { Length: > 0 } given ? given : Repo.File("docs/results/scaling.json");
        var saved = JsonNode.Parse(File.ReadAllText(from))!.AsObject();
        var inputs = saved["model_inputs"]!.AsObject();
        var written = Write(
            (double)inputs["per_core_flops_per_second"]!, (long)inputs["config_a_parameters"]!,
            a.Get("md", Path.Combine(Path.GetDirectoryName(Path.GetFullPath(from))!, "scaling-tables.md")),
            a.Get("png-dir", Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(from))!, ".."))));
        written["from"] = from;
        return written;
    }

    /// <summary>Writes the markdown tables to <paramref name="mdPath"/> and two plots into <paramref name="pngDir"/>; returns what it wrote and the summary.</summary>
    public static JsonObject Write(double perCoreFlops, long configAParameters, string mdPath, string pngDir)
    {
        var (markdown, summary) = Build(perCoreFlops, configAParameters);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(mdPath))!);
        File.WriteAllText(mdPath + ".tmp", markdown);
        File.Move(mdPath + ".tmp", mdPath, overwrite: true);
        var wrote = new JsonArray(mdPath);
        foreach (int cores in Cores)
        {
            var png = Path.Combine(pngDir, $"scaling-efficiency-{cores}core.png");
            Plot(perCoreFlops * cores, cores, configAParameters, BatchScaling.FixedGlobal, png);
            wrote.Add(png);
        }
        return new JsonObject
        {
            ["wrote"] = wrote,
            ["stops_paying_off"] = summary,
        };
    }

    /// <summary>The markdown of docs/results/scaling-tables.md and the "stops paying off" summary (2- and 32-core machines).</summary>
    public static (string Markdown, JsonArray Summary) Build(double perCoreFlops, long configAParameters)
    {
        var md = new StringBuilder();
        var summary = new JsonArray();
        var models = Models(configAParameters);
        string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
        md.AppendLine("<!-- generated by bench/run scaling (or: bench/SharpSeek.Bench/bin/Release/net10.0/SharpSeek.Bench worker scaling-tables --from docs/results/scaling.json); do not edit -->");
        md.AppendLine(Inv($"Inputs: per-core training rate {perCoreFlops / 1e9:F1} GFLOP/s (6·parameters FLOPs per token, measured by bench/run scaling on config A, 1 thread per rank); a machine of C cores = C × that; latency α = {NetworkLatencySeconds * 1e6:F0} µs per message between hosts (assumed); buckets of ≤ 25 MiB, each paying 2(N−1)·α; all parameters all-reduced every optimizer step. Efficiency = tokens/s ÷ (N × one machine's tokens/s). Models: {string.Join("; ", models.Select(m => Inv($"{m.Name} {m.Parameters:N0} parameters, {m.Rows} × {m.Block} = {m.BatchTokens:N0} tokens per machine at N = 1")))}."));
        md.AppendLine();

        foreach (int cores in Cores)
        {
            double machineFlops = perCoreFlops * cores;
            md.AppendLine(Inv($"### Where it stops paying off: {cores}-core machines ({machineFlops / 1e9:F0} GFLOP/s each{(cores == 2 ? ", like this one" : ", per-core rate assumed to scale linearly")})"));
            md.AppendLine();
            md.AppendLine(Inv($"Each cell: the largest N (of 2…64) with efficiency ≥ {MinEfficiency:P0} / the first N whose doubling added < {MinGainPerDoubling:P0} tokens/s (— = none up to 64). Compute per step at N = 1 in brackets."));
            md.AppendLine();
            md.AppendLine("| model | batch | link | " + string.Join(" | ", Variants.Select(v => v.Name)) + " |");
            md.AppendLine("| --- | --- | --- |" + string.Concat(Variants.Select(_ => " --- |")));
            foreach (var m in models)
                foreach (var batch in new[] { BatchScaling.FixedGlobal, BatchScaling.FixedPerMachine })
                    foreach (double gbps in LinksGbps)
                    {
                        var cells = new List<string>();
                        foreach (var v in Variants)
                        {
                            var s = Scenario(m, batch, machineFlops, gbps, v);
                            int? efficient = ScalingModel.LargestEfficient(s, Machines.Skip(1).ToList(), MinEfficiency);
                            int? diminishing = ScalingModel.FirstDiminishing(s, Machines, MinGainPerDoubling);
                            cells.Add($"{efficient?.ToString() ?? "<2"} / {diminishing?.ToString() ?? "—"}");
                            summary.Add(new JsonObject
                            {
                                ["cores_per_machine"] = cores, ["model"] = m.Name, ["batch"] = BatchName(batch), ["link_gbps"] = gbps,
                                ["variant"] = v.Name, ["largest_n_efficiency_at_least_50pct"] = efficient, ["first_n_doubling_adds_below_10pct"] = diminishing,
                                ["efficiency_at_64"] = Math.Round(ScalingModel.Predict(s, 64).Efficiency, 4),
                            });
                        }
                        double compute1 = ScalingModel.TrainingFlops(m.Parameters, m.BatchTokens) / machineFlops;
                        md.AppendLine(Inv($"| {m.Name} [{Seconds(compute1)}] | {BatchName(batch)} | {gbps:G} Gb/s | ") + string.Join(" | ", cells) + " |");
                    }
            md.AppendLine();
        }

        foreach (int cores in Cores)
        {
            double machineFlops = perCoreFlops * cores;
            md.AppendLine(Inv($"### Predicted efficiency and tokens/s, {cores}-core machines ({machineFlops / 1e9:F0} GFLOP/s each)"));
            md.AppendLine();
            foreach (var m in models)
                foreach (var batch in new[] { BatchScaling.FixedGlobal, BatchScaling.FixedPerMachine })
                {
                    long bytes = ScalingModel.GradientBytes(m.Parameters, 4);
                    double compute1 = ScalingModel.TrainingFlops(m.Parameters, m.BatchTokens) / machineFlops;
                    md.AppendLine(Inv($"**{m.Name}, {BatchName(batch)} batch** ({m.BatchTokens:N0} tokens {(batch == BatchScaling.FixedGlobal ? "per step in all" : "per machine per step")}; gradient {bytes / 1e6:F0} MB fp32, {bytes / 2e6:F0} MB bf16; one machine: {Seconds(compute1)} compute per step, {m.BatchTokens / compute1:F0} tokens/s). Cells: efficiency · tokens/s (all-reduce seconds per step)."));
                    md.AppendLine();
                    md.AppendLine("| link | variant | " + string.Join(" | ", Machines.Skip(1).Select(n => $"N={n}")) + " |");
                    md.AppendLine("| --- | --- |" + string.Concat(Machines.Skip(1).Select(_ => " --- |")));
                    foreach (double gbps in LinksGbps)
                        foreach (var v in Variants)
                        {
                            var s = Scenario(m, batch, machineFlops, gbps, v);
                            var cells = Machines.Skip(1).Select(n => ScalingModel.Predict(s, n)).Select(p => Inv($"{p.Efficiency:P0} · {Rate(p.TokensPerSecond)} ({Seconds(p.AllReduceSeconds)})"));
                            md.AppendLine(Inv($"| {gbps:G} Gb/s | {v.Name} | ") + string.Join(" | ", cells) + " |");
                        }
                    md.AppendLine();
                }
        }
        return (md.ToString(), summary);
    }

    /// <summary>Predicted efficiency vs N (log₂ axis), fp32 without overlap (solid) and bf16 with overlap (dashed), one line per model and link.</summary>
    private static void Plot(double machineFlops, int cores, long configAParameters, BatchScaling batch, string path)
    {
        var plot = new Plot();
        var colors = new[] { Colors.C0, Colors.C1, Colors.C2 };
        var models = Models(configAParameters);
        double[] xs = Machines.Select(n => Math.Log2(n)).ToArray();
        for (int i = 0; i < models.Count; i++)
            foreach (double gbps in LinksGbps)
                foreach (var v in new[] { Variants[0], Variants[3] })
                {
                    var s = Scenario(models[i], batch, machineFlops, gbps, v);
                    var ys = Machines.Select(n => 100 * ScalingModel.Predict(s, n).Efficiency).ToArray();
                    var line = plot.Add.Scatter(xs, ys, colors[i]);
                    line.LineWidth = gbps switch { 10 => 1, 25 => 2, _ => 3.5f };
                    line.MarkerSize = 4;
                    if (v.Overlap) line.LinePattern = LinePattern.Dashed;
                    line.LegendText = $"{models[i].Name}, {gbps:G} Gb/s, {v.Name}";
                }
        var half = plot.Add.HorizontalLine(50); half.LinePattern = LinePattern.Dotted; half.Color = Colors.Gray;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(xs, Machines.Select(n => n.ToString()).ToArray());
        plot.Axes.SetLimitsY(0, 105);
        plot.Title($"Predicted efficiency, {BatchName(batch)} batch, {cores}-core machines ({machineFlops / 1e12:F1} TFLOP/s each)");
        plot.XLabel("machines N"); plot.YLabel("efficiency (%)");
        plot.ShowLegend(Edge.Right);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string tmp = path + ".tmp.png";
        plot.SavePng(tmp, 1100, 640);
        File.Move(tmp, path, overwrite: true);
    }

    public static string BatchName(BatchScaling batch) => batch == BatchScaling.FixedGlobal ? "fixed global" : "fixed per-machine";

    private static string Seconds(double s) => s switch
    {
        < 1e-3 => string.Create(CultureInfo.InvariantCulture, $"{s * 1e6:F0} µs"),
        < 1 => string.Create(CultureInfo.InvariantCulture, $"{s * 1e3:F0} ms"),
        < 100 => string.Create(CultureInfo.InvariantCulture, $"{s:F1} s"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{s:F0} s"),
    };

    private static string Rate(double r) => r switch
    {
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{r / 1e6:F1}M"),
        >= 1e4 => string.Create(CultureInfo.InvariantCulture, $"{r / 1e3:F0}k"),
        >= 1e3 => string.Create(CultureInfo.InvariantCulture, $"{r / 1e3:F1}k"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{r:F0}"),
    };
}

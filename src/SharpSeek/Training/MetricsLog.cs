using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Training;

/// <summary>One line of <c>metrics.jsonl</c>: a training step's loss, or an evaluation's val_loss (then loss may be null), with the objective's metrics.</summary>
public sealed record MetricsRecord
{
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("loss")] public double? Loss { get; init; }
    [JsonPropertyName("val_loss")] public double? ValLoss { get; init; }
    [JsonPropertyName("lr")] public double Lr { get; init; }
    [JsonPropertyName("tokens_per_s")] public double? TokensPerSecond { get; init; }
    [JsonPropertyName("elapsed")] public double Elapsed { get; init; }
    /// <summary>Evaluation lines: batches evaluated (fewer than eval_iters when the time limit stopped it early).</summary>
    [JsonPropertyName("eval_batches")] public int? EvalBatches { get; init; }
    /// <summary>Mixture-of-Experts models: max/mean expert load per MoE layer in this step (<see cref="SharpSeek.Models.Common.CausalLM.ExpertLoadImbalance"/>).</summary>
    [JsonPropertyName("moe_max_over_mean")] public double[]? MoeMaxOverMean { get; init; }
    /// <summary>The objective's named metrics (e.g. "kl"; an evaluation's as "val_kl"); absent when it has none.</summary>
    [JsonPropertyName("metrics")] public IReadOnlyDictionary<string, double>? Metrics { get; init; }

    /// <summary><paramref name="metrics"/> with each name prefixed, or null when empty (the line then has no metrics field).</summary>
    public static IReadOnlyDictionary<string, double>? Named(IReadOnlyDictionary<string, double> metrics, string prefix = "") =>
        metrics.Count == 0 ? null : metrics.ToDictionary(kv => prefix + kv.Key, kv => kv.Value);
}

/// <summary>Append-only metrics file (JSON Lines) kept in memory too, for plots. On resume, lines past the checkpoint are dropped.</summary>
public sealed class MetricsLog
{
    public const string FileName = "metrics.jsonl";
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly List<MetricsRecord> _records = new();

    public string Path { get; }
    public IReadOnlyList<MetricsRecord> Records => _records;

    public MetricsLog(string outDir) { Path = System.IO.Path.Combine(outDir, FileName); }

    /// <summary>Loads existing lines with step ≤ <paramref name="upToStep"/> and rewrites the file with only those (a resumed run).</summary>
    public void ResumeAt(int upToStep)
    {
        _records.Clear();
        if (!File.Exists(Path)) return;
        foreach (var line in File.ReadLines(Path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            MetricsRecord? r;
            try { r = JsonSerializer.Deserialize<MetricsRecord>(line, Json); }
            catch (JsonException) { continue; }                               // a line cut short by a crash
            if (r is not null && r.Step <= upToStep) _records.Add(r);
        }
        string tmp = Path + ".tmp";
        File.WriteAllLines(tmp, _records.Select(r => JsonSerializer.Serialize(r, Json)));
        File.Move(tmp, Path, overwrite: true);
    }

    public void Append(MetricsRecord record)
    {
        _records.Add(record);
        File.AppendAllText(Path, JsonSerializer.Serialize(record, Json) + "\n");
    }

    public static string Format(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
}

using System.Text.Json.Nodes;
using SharpSeek.Bench.Harness;
using SharpSeek.Training;
using SharpSeek.Data;

namespace SharpSeek.Bench.Train;

/// <summary>
/// <c>bench/run precision</c>: the same small Tiny Shakespeare char-level run (same seed, same batches) in fp32 and in bf16
/// mixed precision (fp32 master weights and AdamW state); records both loss curves, their final gap (must be within 2%)
/// and a plot in docs/precision-fp32-vs-bf16.png. Needs data/shakespeare-char (bench/shakespeare.sh prepares it).
/// Where the CPU has no native bf16 the bf16 run is skipped, with the reason in the JSON (<see cref="Bf16Gate"/>).
/// </summary>
public sealed class PrecisionBenchmark : IBenchmark
{
    public JsonObject Run(BenchContext context)
    {
        string data = Environment.GetEnvironmentVariable("SHARPSEEK_SHAKESPEARE_DATA") ?? "data/shakespeare-char";
        var baseConfig = new TrainConfig
        {
            NLayer = 2, NHead = 4, NEmbd = 128, BlockSize = 64, BatchSize = 16, Dropout = 0,
            MaxSteps = context.Quick ? 150 : 600, Lr = 2e-3, MinLr = 2e-4, WarmupSteps = 20,
            EvalInterval = context.Quick ? 50 : 100, EvalIters = 10, LogInterval = 5, KeepLast = 1, Threads = 2, DataDir = data,
        };
        var runs = new Dictionary<string, IReadOnlyList<MetricsRecord>>();
        var result = new JsonObject();
        string? bf16Skip = Bf16Gate.SkipReason();
        if (bf16Skip is not null)
        {
            context.Log($"skipping bf16: {bf16Skip}");
            result["bf16"] = new JsonObject { ["skipped"] = bf16Skip };
            result["skipped"] = new JsonObject { ["bf16"] = bf16Skip };
        }
        foreach (var precision in bf16Skip is null ? new[] { "fp32", "bf16" } : ["fp32"])
        {
            var c = baseConfig with { Precision = precision, OutDir = Path.Combine("out", $"bench-precision-{precision}") };
            if (Directory.Exists(c.OutDir)) Directory.Delete(c.OutDir, recursive: true);
            context.Log($"{precision}: {c.MaxSteps} steps…");
            using var source = TokenDatasetBatchSource.Open(data, (ulong)c.Seed);
            var trainer = new Trainer(c, source, TrainingModels.For(c, source.VocabSize)) { RetainFreedMemory = true };
            var r = trainer.Run();
            var log = new MetricsLog(c.OutDir);
            log.ResumeAt(int.MaxValue);
            var records = log.Records;
            runs[precision] = records;
            var train = records.Where(x => x.Loss is not null).ToList();
            result[precision] = new JsonObject
            {
                ["final_val_loss"] = Math.Round(r.LastValLoss!.Value, 4),
                ["final_train_loss_mean_last_10pct"] = Math.Round(train.TakeLast(Math.Max(1, train.Count / 10)).Average(x => x.Loss!.Value), 4),
                ["train_minutes"] = Math.Round(r.Elapsed.TotalMinutes, 2),
                ["val_curve"] = new JsonArray(records.Where(x => x.ValLoss is not null).Select(x => (JsonNode)new JsonArray(x.Step, Math.Round(x.ValLoss!.Value, 4))).ToArray()),
                ["train_curve"] = new JsonArray(train.Select(x => (JsonNode)new JsonArray(x.Step, Math.Round(x.Loss!.Value, 4))).ToArray()),
            };
            context.Log($"  final val loss {r.LastValLoss:F4}");
        }
        if (bf16Skip is null)
        {
            double fp32 = (double)result["fp32"]!["final_val_loss"]!, bf16 = (double)result["bf16"]!["final_val_loss"]!;
            double gap = Math.Abs(bf16 - fp32) / fp32;
            result["final_val_relative_gap"] = Math.Round(gap, 5);
            result["within_2_percent"] = gap <= 0.02;
        }
        result["config"] = JsonNode.Parse(baseConfig.ToJson());
        if (bf16Skip is not null) return result;                     // nothing to compare: the committed plot stays
        Directory.CreateDirectory("docs");
        LossPlot.SaveComparison(runs, "docs/precision-fp32-vs-bf16.png", $"Tiny Shakespeare char, {baseConfig.NLayer}L {baseConfig.NEmbd}C: fp32 vs bf16 mixed precision");
        result["plot"] = "docs/precision-fp32-vs-bf16.png";
        return result;
    }
}

using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Decode;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Bench.Train;

/// <summary>
/// The matmul peak of this machine through LibTorch (<c>SharpSeek.Bench worker matmul --dtype bf16|fp32</c>): best GFLOP/s
/// of an (M×K)·(K×N) product, the yardstick for MFU (model FLOPs utilisation, Chowdhery et al. 2022, PaLM §B).
/// </summary>
public static class MatmulPeakWorker
{
    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        int threads = a.Int("threads", 2), size = a.Int("size", 2048), repeats = a.Int("repeats", 6);
        var dtype = a.Get("dtype", "bf16") == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
        torch.set_num_threads(threads);
        torch.manual_seed(1);
        using var x = torch.randn([size, size]).to(dtype);
        using var w = torch.randn([size, size]).to(dtype);
        var rates = new List<double>();
        for (int i = 0; i <= repeats; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            using var y = torch.matmul(x, w);
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (i > 0) rates.Add(2.0 * size * size * size / s / 1e9);
        }
        return new JsonObject
        {
            ["dtype"] = a.Get("dtype", "bf16"),
            ["gflops"] = Math.Round(rates.Max(), 1),
            ["all_gflops"] = new JsonArray(rates.Select(r => (JsonNode)Math.Round(r, 1)).ToArray()),
            ["size"] = size,
            ["threads"] = torch.get_num_threads(),
            ["omp_wait_policy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(default)",
        };
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Harness;
using SharpSeek.Kernels;
using SharpSeek.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Bench.Decode;

/// <summary>
/// <c>bench/run quant-kernels</c>: one decode row through the projections of GPT-2 124M and config A, random weights:
/// fp32 <see cref="DecodeGemv"/> (the path <c>SHARPSEEK_SIMD</c> gives) against <see cref="QuantizedGemm"/> int8 and int4
/// (group 64) on each kernel path this CPU runs, at 1 and 2 threads: µs per call (best of several timed loops) and GB/s
/// of weight bytes read. Then the per-token sum over a model's projections, and a few x-row counts (prefill chunks)
/// against the dequantize-then-matmul reference and LibTorch's fp32 linear.
/// </summary>
public sealed class QuantKernelBench : IBenchmark
{
    /// <summary>(name, in, out, count per token) of each model's projections; the head once.</summary>
    private static readonly (string Model, (string Name, int In, int Out, int PerToken)[] Shapes)[] Models =
    [
        ("gpt2_124m", [("attn_qkv", 768, 2304, 12), ("attn_proj", 768, 768, 12), ("mlp_fc", 768, 3072, 12), ("mlp_proj", 3072, 768, 12), ("head", 768, 50257, 1)]),
        ("config_a", [("attn_qkv", 384, 1152, 6), ("attn_proj", 384, 384, 6), ("mlp_fc", 384, 1536, 6), ("mlp_proj", 1536, 384, 6), ("head", 384, 50304, 1)]),
    ];

    public JsonObject Run(BenchContext context)
    {
        NativeHeap.RetainFreedMemory();
        using var noGrad = no_grad();
        int before = torch.get_num_threads();
        var paths = new List<(string Name, SimdPath Path, bool Vnni)>();
        if (SimdPaths.CanRun(SimdPath.Vector512))
        {
            paths.Add(("512", SimdPath.Vector512, false));
            if (SimdPaths.VnniSupported) paths.Add(("512+vnni", SimdPath.Vector512, true));
        }
        if (SimdPaths.CanRun(SimdPath.Vector256))
        {
            paths.Add(("256", SimdPath.Vector256, false));
            if (SimdPaths.VnniSupported) paths.Add(("256+vnni", SimdPath.Vector256, true));
        }
        if (!context.Quick) paths.Add(("scalar", SimdPath.Scalar, false));
        double budget = context.Quick ? 0.01 : 0.04;                                           // seconds per timed loop

        var result = new JsonObject
        {
            ["fp32_path"] = SimdPaths.Describe(),
            ["vnni"] = SimdPaths.VnniSupported ? "AVX-VNNI present" : "no AVX-VNNI",
            ["quant_paths"] = new JsonArray([.. paths.Select(p => (JsonNode)p.Name)]),
        };
        WarmUp(paths);
        context.Log("kernels warmed up (tiered JIT at full optimization)");
        var models = new JsonObject();
        foreach (var (model, shapes) in Models)
        {
            var rows = new JsonArray();
            var perToken = new Dictionary<string, double>();                                  // "int8 512 t1" → µs per token
            foreach (var (name, inF, outF, count) in shapes)
            {
                using var scope = NewDisposeScope();
                var gen = new torch.Generator(1);
                var w = randn([outF, inF], generator: gen) * 0.02;
                var x = randn([1, inF], generator: gen);
                using var q8 = QuantizedWeight.Quantize(w, 8);
                using var q4 = QuantizedWeight.Quantize(w, 4, 64);
                var entry = new JsonObject { ["shape"] = $"{inF}x{outF}", ["name"] = name };
                foreach (int threads in new[] { 1, 2 })
                {
                    torch.set_num_threads(threads);
                    Add(entry, perToken, $"fp32 t{threads}", count, 4L * inF * outF, () => DecodeGemv.Linear(x, w), budget);
                    foreach (var (pname, path, vnni) in paths)
                    {
                        if (path == SimdPath.Scalar && threads == 2) continue;
                        Add(entry, perToken, $"int8 {pname} t{threads}", count, q8.StorageBytes, () => QuantizedGemm.Linear(x, q8, null, path, vnni), budget);
                        Add(entry, perToken, $"int4 {pname} t{threads}", count, q4.StorageBytes, () => QuantizedGemm.Linear(x, q4, null, path, vnni), budget);
                    }
                }
                torch.set_num_threads(before);
                rows.Add(entry);
                context.Log($"{model} {name} {inF}x{outF}: fp32 t1 {entry["fp32 t1"]!["cpu_us"]} cpu µs, int8 t1 {Best(entry, "int8", "t1")}, int4 t1 {Best(entry, "int4", "t1")}");
            }
            var sums = new JsonObject();
            foreach (var (key, us) in perToken) sums[key] = Math.Round(us, 1);
            models[model] = new JsonObject { ["shapes"] = rows, ["projections_us_per_token"] = sums };
            context.SampleLoad(model);
        }
        result["models"] = models;
        result["prefill_chunk"] = PrefillChunks(budget);
        torch.set_num_threads(before);
        result["definitions"] = new JsonObject
        {
            ["cpu_us"] = "process CPU µs per call (all threads), best loop: steadier than wall time on a loaded machine",
            ["us"] = "µs per call, one x row, best of 5 timed loops (each ≥ the loop budget) after warm-up; weights stay warm in cache between calls, as far as they fit",
            ["gbps"] = "weight bytes (fp32: 4/weight; int8: 1 + row scales; int4 g64: 0.5 + scales) ÷ time",
            ["projections_us_per_token"] = "Σ over the model's projections per token (layers × 4 + head) of the µs per call",
            ["prefill_chunk"] = "gpt2 mlp_fc 768x3072, n rows of x: fused kernel vs dequantize+matmul reference vs LibTorch fp32 linear (1 thread, process CPU µs per call)",
        };
        return result;
    }

    /// <summary>Runs every kernel variant a few hundred times, twice with a pause, so tiered compilation has finished before timing.</summary>
    private static void WarmUp(List<(string Name, SimdPath Path, bool Vnni)> paths)
    {
        using var scope = NewDisposeScope();
        var w = randn(64, 256);
        var xs = new[] { randn(1, 256), randn(5, 256) };
        using var q8 = QuantizedWeight.Quantize(w, 8);
        using var q4 = QuantizedWeight.Quantize(w, 4, 64);
        using var q4z = QuantizedWeight.Quantize(w, 4, 64, zeroPoint: true);
        for (int round = 0; round < 2; round++)
        {
            foreach (var (_, path, vnni) in paths)
                foreach (var x in xs)
                    for (int i = 0; i < 300; i++)
                    {
                        QuantizedGemm.Linear(x, q8, null, path, vnni).Dispose();
                        QuantizedGemm.Linear(x, q4, null, path, vnni).Dispose();
                        QuantizedGemm.Linear(x, q4z, null, path, vnni).Dispose();
                    }
            for (int i = 0; i < 300; i++) DecodeGemv.Linear(xs[0], w).Dispose();
            Thread.Sleep(1000);
        }
    }

    private static string Best(JsonObject entry, string dtype, string threads)
    {
        var best = entry.Where(p => p.Key.StartsWith(dtype + " ") && p.Key.EndsWith(" " + threads))
            .MinBy(p => (double)p.Value!["us"]!);
        return best.Key is null ? "-" : $"{best.Value!["cpu_us"]} cpu µs ({best.Key})";
    }

    private static void Add(JsonObject entry, Dictionary<string, double> perToken, string key, int count, long bytes, Func<Tensor> call, double budget)
    {
        var (us, cpuUs) = Time(call, budget);
        entry[key] = new JsonObject { ["us"] = Math.Round(us, 2), ["cpu_us"] = Math.Round(cpuUs, 2), ["gbps"] = Math.Round(bytes / us / 1e3, 2) };
        perToken[key] = perToken.GetValueOrDefault(key) + us * count;
        perToken[key + " cpu"] = perToken.GetValueOrDefault(key + " cpu") + cpuUs * count;
    }

    /// <summary>
    /// Best wall µs and best process-CPU µs per call over 7 loops of ≥ <paramref name="budget"/> seconds each, after a
    /// warm-up loop. On a loaded machine the CPU time (all threads of this process) is the steadier figure.
    /// </summary>
    private static (double Us, double CpuUs) Time(Func<Tensor> call, double budget)
    {
        long t0 = Stopwatch.GetTimestamp();
        int calls = 0;
        while (Stopwatch.GetElapsedTime(t0).TotalSeconds < budget / 2 || calls < 3) { call().Dispose(); calls++; }
        int loop = Math.Max(1, calls * 2);
        double best = double.MaxValue, bestCpu = double.MaxValue;
        for (int r = 0; r < 7; r++)
        {
            double c0 = CpuSeconds();
            long s = Stopwatch.GetTimestamp();
            for (int i = 0; i < loop; i++) call().Dispose();
            best = Math.Min(best, Stopwatch.GetElapsedTime(s).TotalSeconds * 1e6 / loop);
            bestCpu = Math.Min(bestCpu, (CpuSeconds() - c0) * 1e6 / loop);
        }
        return (best, bestCpu);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds, Nanoseconds; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>CPU time of this process (CLOCK_PROCESS_CPUTIME_ID, ns resolution), seconds.</summary>
    private static double CpuSeconds() => ClockGetTime(2, out var t) == 0 ? t.Seconds + t.Nanoseconds * 1e-9 : double.NaN;

    private static JsonObject PrefillChunks(double budget)
    {
        using var scope = NewDisposeScope();
        torch.set_num_threads(1);
        var gen = new torch.Generator(2);
        var w = randn([3072, 768], generator: gen) * 0.02;
        using var q8 = QuantizedWeight.Quantize(w, 8);
        using var q4 = QuantizedWeight.Quantize(w, 4, 64);
        var result = new JsonObject();
        int limit = QuantizedGemm.MaxFusedRows;
        QuantizedGemm.MaxFusedRows = int.MaxValue;                                        // fused at every n, to find the crossing
        foreach (int n in new[] { 1, 4, 8, 16, 32, 64, 128 })
        {
            var x = randn([n, 768], generator: gen);
            result[$"n{n}"] = new JsonObject
            {
                ["fp32_linear_cpu_us"] = Math.Round(Time(() => nn.functional.linear(x, w), budget).CpuUs, 1),
                ["int8_fused_cpu_us"] = Math.Round(Time(() => QuantizedGemm.Linear(x, q8), budget).CpuUs, 1),
                ["int8_reference_cpu_us"] = Math.Round(Time(() => QuantizedGemm.Reference(x, q8), budget).CpuUs, 1),
                ["int4_fused_cpu_us"] = Math.Round(Time(() => QuantizedGemm.Linear(x, q4), budget).CpuUs, 1),
                ["int4_reference_cpu_us"] = Math.Round(Time(() => QuantizedGemm.Reference(x, q4), budget).CpuUs, 1),
            };
        }
        QuantizedGemm.MaxFusedRows = limit;
        return result;
    }
}

using System.Text.Json.Nodes;
using SharpSeek.Bench.Harness;

namespace SharpSeek.Bench.Decode;

/// <summary>
/// <c>bench/run decode-profile</c>: where SharpSeek's decode step spends its time (see <see cref="DecodeProfile"/>),
/// for both benchmark models, each in a fresh process with OMP_WAIT_POLICY=PASSIVE and 2 threads.
/// </summary>
public sealed class DecodeProfileBenchmark : IBenchmark
{
    public JsonObject Run(BenchContext context)
    {
        var result = new JsonObject();
        foreach (var config in DecodeWorker.Configs.Keys)
        {
            context.Log($"profile {config}…");
            var (file, args) = ChildProcess.Self("worker", "decode-profile", "--config", config, "--threads", "2",
                                                 "--trials", context.Quick ? "15" : "40");
            var env = new Dictionary<string, string?> { ["OMP_WAIT_POLICY"] = "PASSIVE", ["OMP_NUM_THREADS"] = "2" };
            result[config] = ChildProcess.RunJsonOrFailure(file, args, env, TimeSpan.FromMinutes(15));   // {"failed": …} on a timeout
            context.SampleLoad(config);
        }
        result["definitions"] = new JsonObject
        {
            ["min_ms / median_ms"] = "wall time of one pass, min and median over trials run round-robin across variants",
            ["cpu_ms_mean"] = "process CPU time (all threads) per pass, mean: less sensitive to other jobs than wall time",
            ["model_step"] = "one decode step through Gpt2LMHeadModel.Forward with a 16-token KV cache, plus argmax",
            ["linear_* / addmv / addmm_* / matmul_*"] = "every matmul of one decode step (4 per layer + tied head), one row, in that LibTorch form",
            ["csharp_gemv_*"] = "the same matmuls through a C# Vector512 loop (the prototype of Models/Gpt2/DecodeGemv)",
            ["op_*_x100 / *_x10"] = "100 (10) calls of one small op; us_per_call_min is the fixed cost per call",
        };
        return result;
    }
}

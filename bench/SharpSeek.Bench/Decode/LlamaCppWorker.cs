using System.Diagnostics;
using System.Text.Json.Nodes;
using LLama;
using LLama.Common;
using LLama.Native;

namespace SharpSeek.Bench.Decode;

/// <summary>
/// One llama.cpp measurement in its own process (<c>SharpSeek.Bench worker llamacpp --gguf FILE --isa avx512|avx2 …</c>),
/// through LLamaSharp 0.30.0 and the prebuilt llama.cpp of LLamaSharp.Backend.Cpu: a prompt of random token ids in one
/// batch (prompt tokens/s), then N greedy steps one token at a time with llama.cpp's KV cache (tokens/s); best of several
/// rounds after a warm-up round, the cache cleared between rounds. The native build (avx512 or avx2 folder of the
/// backend package) is picked by path before anything loads it, hence one process per ISA level.
/// </summary>
public static class LlamaCppWorker
{
    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        string gguf = a.Get("gguf", "");
        string isa = a.Get("isa", "avx512");
        int threads = a.Int("threads", 2), promptLen = a.Int("prompt-len", 128), newTokens = a.Int("new-tokens", 64);
        int repeats = a.Int("repeats", 3), seed = a.Int("seed", 1234);
        if (!File.Exists(gguf)) throw new FileNotFoundException($"no GGUF file {gguf}");

        string library = NativeLibrary(isa);
        NativeLibraryConfig.All.WithLibrary(library, null);
        var log = new List<string>();
        NativeLogConfig.llama_log_set((level, message) => { if (level >= LLamaLogLevel.Warning && message.Trim().Length > 1) lock (log) log.Add(message.TrimEnd()); });

        var parameters = new ModelParams(gguf)
        {
            ContextSize = (uint)(promptLen + newTokens + 16),
            BatchSize = (uint)Math.Max(promptLen, 32),
            UBatchSize = (uint)Math.Max(promptLen, 32),
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var context = weights.CreateContext(parameters);
        int vocab = weights.Vocab.Count;
        var rng = new Random(seed);
        var prompt = Enumerable.Range(0, promptLen).Select(_ => rng.Next(0, vocab)).ToArray();

        var promptRates = new List<double>();
        var rates = new List<double>();
        var cpuMs = new List<double>();
        int[] tokens = [];
        for (int round = 0; round <= repeats; round++)                    // round 0 warms up (8 tokens)
        {
            int n = round == 0 ? Math.Min(8, newTokens) : newTokens;
            var (promptSeconds, seconds, ids, cpu) = DecodeOnce(context, prompt, n);
            if (round == 0) continue;
            cpuMs.Add(cpu / n);
            promptRates.Add(promptLen / promptSeconds);
            rates.Add(n / seconds);
            tokens = ids;
        }
        double best = rates.Max();
        return new JsonObject
        {
            ["side"] = "llamacpp",
            ["gguf"] = Path.GetFileName(gguf),
            ["file_size_bytes"] = new FileInfo(gguf).Length,
            ["tokens_per_s"] = best,
            ["ms_per_token"] = 1000.0 / best,
            ["all_tokens_per_s"] = new JsonArray(rates.Select(r => (JsonNode)r).ToArray()),
            ["prompt_tokens_per_s"] = promptRates.Max(),
            ["cpu_ms_per_token"] = cpuMs.Min(),
            ["threads"] = threads,
            ["omp_wait_policy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(default)",
            ["isa"] = isa,
            ["native_library"] = library,
            ["system_info"] = SystemInfo(),
            ["prompt_len"] = promptLen,
            ["new_tokens"] = newTokens,
            ["vocab"] = vocab,
            ["first_tokens"] = new JsonArray(tokens.Take(8).Select(t => (JsonNode)t).ToArray()),
            ["warnings"] = new JsonArray(log.Take(5).Select(m => (JsonNode)m).ToArray()),
        };
    }

    /// <summary>The llama.cpp build of the backend package for <paramref name="isa"/> (avx512, avx2, avx, noavx), next to this program.</summary>
    public static string NativeLibrary(string isa)
    {
        if (isa is not ("avx512" or "avx2" or "avx" or "noavx")) throw new ArgumentException($"--isa must be avx512, avx2, avx or noavx; got '{isa}'");
        string path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", isa, "libllama.so");
        if (!File.Exists(path)) throw new FileNotFoundException($"no llama.cpp build at {path} (LLamaSharp.Backend.Cpu, linux-x64)");
        return path;
    }

    /// <summary>Clears the cache, processes the prompt in one batch, then <paramref name="newTokens"/> greedy steps; (prompt s, steps s, tokens, the steps' process CPU ms).</summary>
    private static (double PromptSeconds, double Seconds, int[] Tokens, double CpuMs) DecodeOnce(LLamaContext context, int[] prompt, int newTokens)
    {
        var handle = context.NativeHandle;
        handle.MemoryClear();
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        long t0 = Stopwatch.GetTimestamp();
        Check(handle.Decode(batch));
        int next = ArgMax(handle.GetLogitsIth(batch.TokenCount - 1));
        double promptSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        var tokens = new int[newTokens];
        double cpu0 = DecodeProfile.CpuMs();
        long start = Stopwatch.GetTimestamp();
        for (int step = 0; step < newTokens; step++)
        {
            tokens[step] = next;
            batch.Clear();
            batch.Add((LLamaToken)next, prompt.Length + step, LLamaSeqId.Zero, true);
            Check(handle.Decode(batch));
            next = ArgMax(handle.GetLogitsIth(0));
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (promptSeconds, seconds, tokens, DecodeProfile.CpuMs() - cpu0);
    }

    /// <summary>llama.cpp's llama_print_system_info(): the CPU features its loaded build uses.</summary>
    private static string SystemInfo()
    {
        object info = typeof(NativeApi).GetMethod("llama_print_system_info")!.Invoke(null, null)!;
        return (info is IntPtr p ? System.Runtime.InteropServices.Marshal.PtrToStringAnsi(p) : info.ToString())?.Trim() ?? "";
    }

    private static void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {result}");
    }

    private static int ArgMax(Span<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}

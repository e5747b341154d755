using LLama;
using LLama.Common;
using LLama.Native;

namespace SharpSeek.Tests.Checkpoints.Gguf;

/// <summary>
/// Runs a GGUF file in llama.cpp through LLamaSharp (tests only): logits at every position of a prompt, and greedy
/// continuation with llama.cpp's own KV cache. If the native library cannot load, every call fails with one clear message.
/// </summary>
internal static class LlamaCppRunner
{
    /// <summary>Forces LLamaSharp's build (None, Avx, Avx2, Avx512), e.g. to run the AVX2 build on an AVX-512 machine; unset = its own choice.</summary>
    public const string AvxVariable = "SHARPSEEK_LLAMACPP_AVX";

    private static readonly Lazy<Exception?> s_native = new(() =>
    {
        try
        {
            try
            {
                NativeLibraryConfig.All.WithLogCallback((_, _) => { });   // llama.cpp logs every load to stderr otherwise
                if (Environment.GetEnvironmentVariable(AvxVariable) is { Length: > 0 } avx)
                    NativeLibraryConfig.All.WithAvx(Enum.Parse<AvxLevel>(avx, ignoreCase: true));
            }
            catch (InvalidOperationException) { }                         // already loaded by another test: keep its settings
            NativeApi.llama_max_devices();                             // forces the native library to load now
            return null;
        }
        catch (Exception e) { return e; }
    });

    private static void EnsureNative()
    {
        if (s_native.Value is { } e)
            throw new InvalidOperationException($"LLamaSharp's native llama.cpp library (LLamaSharp.Backend.Cpu 0.30.0) could not be loaded on this machine: {e.GetType().Name}: {e.Message}", e);
    }

    /// <summary>llama.cpp's system info line (which SIMD its loaded build uses), for the test output.</summary>
    public static string SystemInfo()
    {
        EnsureNative();
        return System.Runtime.InteropServices.Marshal.PtrToStringUTF8(NativeApi.llama_print_system_info()) ?? "";
    }

    /// <summary>Logits (T, V) for every position of <paramref name="tokens"/>, decoded as one batch.</summary>
    public static float[][] Logits(string gguf, IReadOnlyList<int> tokens)
    {
        EnsureNative();
        using var weights = LoadWeights(gguf, tokens.Count + 8);
        using var context = weights.CreateContext(Params(gguf, tokens.Count + 8));
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Count; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
        Decode(context, batch);
        return Enumerable.Range(0, tokens.Count).Select(i => context.NativeHandle.GetLogitsIth(i).ToArray()).ToArray();
    }

    /// <summary>The prompt, then <paramref name="steps"/> greedy tokens (argmax, one at a time through the KV cache).</summary>
    public static int[] Greedy(string gguf, IReadOnlyList<int> prompt, int steps)
    {
        EnsureNative();
        using var weights = LoadWeights(gguf, prompt.Count + steps + 8);
        using var context = weights.CreateContext(Params(gguf, prompt.Count + steps + 8));
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Count; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Count - 1);
        Decode(context, batch);
        var result = new List<int>(prompt);
        for (int s = 0; s < steps; s++)
        {
            var logits = context.NativeHandle.GetLogitsIth(batch.TokenCount - 1);
            int next = ArgMax(logits);
            result.Add(next);
            batch.Clear();
            batch.Add(next, result.Count - 1, LLamaSeqId.Zero, true);
            Decode(context, batch);
        }
        return result.ToArray();
    }

    /// <summary>llama.cpp's own tokenization of each of <paramref name="texts"/> with the file's tokenizer.ggml.* metadata (no BOS, specials as text).</summary>
    public static int[][] Tokenize(string gguf, IReadOnlyList<string> texts)
    {
        EnsureNative();
        var p = Params(gguf, 16);
        p.VocabOnly = true;
        using var weights = LLamaWeights.LoadFromFile(p);
        return texts.Select(t => weights.Tokenize(t, false, false, System.Text.Encoding.UTF8).Select(x => (int)x).ToArray()).ToArray();
    }

    public static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static ModelParams Params(string gguf, int context) => new(gguf)
    {
        ContextSize = (uint)context, BatchSize = (uint)context, UBatchSize = (uint)context, GpuLayerCount = 0, Threads = 1, BatchThreads = 1,
        TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32,                  // llama.cpp's default f16 cache would round K and V
        FlashAttention = false,
    };

    private static LLamaWeights LoadWeights(string gguf, int context) => LLamaWeights.LoadFromFile(Params(gguf, context));

    private static void Decode(LLamaContext context, LLamaBatch batch)
    {
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {result}");
    }
}

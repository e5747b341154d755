using SharpSeek.Models.Gpt2;

namespace SharpSeek.Checkpoints.Gguf;

public static partial class GgufExporter
{
    /// <summary>Activations llama.cpp's gpt2 graph computes: GELU, tanh form (ggml_gelu).</summary>
    private static readonly string[] Gpt2Activations = ["gelu_new", "gelu_pytorch_tanh"];

    /// <summary>
    /// Why llama.cpp's <c>gpt2</c> architecture cannot express <paramref name="c"/>, or null: its graph computes GELU in the
    /// tanh form only.
    /// </summary>
    public static string? Gpt2Refusal(Gpt2Config c) =>
        Gpt2Activations.Contains(c.ActivationFunction) ? null
            : $"activation_function '{c.ActivationFunction}' cannot be expressed: llama.cpp's gpt2 computes GELU in the tanh form ({string.Join(", ", Gpt2Activations)})";

    /// <summary>
    /// GPT-2 → llama.cpp <c>gpt2</c>: token_embd, position_embd, blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up,
    /// ffn_down} (weights and biases), output_norm, output when untied. HF Conv1D weights are stored (in, out); GGUF wants
    /// PyTorch's (out, in), so they are transposed.
    /// </summary>
    private static GgufWriter Gpt2(string dir, CheckpointFolder folder, GgufType type, List<string> notes)
    {
        var c = Gpt2Config.Load(Path.Combine(dir, "config.json"));
        if (Gpt2Refusal(c) is { } why) throw new ConfigException($"{dir}: {why}");
        Gpt2LMHeadModel.Validate(c, folder);
        var vocab = GgufVocab.Read(dir, c.VocabSize);

        var w = new GgufWriter();
        AddGeneral(w, "gpt2", dir, type);
        w.AddUInt32("gpt2.context_length", (uint)c.NPositions);
        w.AddUInt32("gpt2.embedding_length", (uint)c.NEmbd);
        w.AddUInt32("gpt2.feed_forward_length", (uint)c.InnerSize);
        w.AddUInt32("gpt2.block_count", (uint)c.NLayer);
        w.AddUInt32("gpt2.attention.head_count", (uint)c.NHead);
        w.AddFloat32("gpt2.attention.layer_norm_epsilon", (float)c.LayerNormEpsilon);
        vocab.AddTo(w);

        string p = folder.Contains("transformer.wte.weight") ? "transformer." : "";
        long d = c.NEmbd, inner = c.InnerSize;
        void Plain(string gguf, string hf, long[] shape) => Add(w, type, gguf, shape, () => Values(folder, hf));
        void Conv1D(string gguf, string hf, long[] shape) => Add(w, type, gguf, shape, () => Values(folder, hf, t => t.t()));   // (in, out) → (out, in)

        Plain("token_embd.weight", p + "wte.weight", [c.VocabSize, d]);
        Plain("position_embd.weight", p + "wpe.weight", [c.NPositions, d]);
        for (int i = 0; i < c.NLayer; i++)
        {
            string h = $"{p}h.{i}.", b = $"blk.{i}.";
            Plain(b + "attn_norm.weight", h + "ln_1.weight", [d]);
            Plain(b + "attn_norm.bias", h + "ln_1.bias", [d]);
            Conv1D(b + "attn_qkv.weight", h + "attn.c_attn.weight", [3 * d, d]);
            Plain(b + "attn_qkv.bias", h + "attn.c_attn.bias", [3 * d]);
            Conv1D(b + "attn_output.weight", h + "attn.c_proj.weight", [d, d]);
            Plain(b + "attn_output.bias", h + "attn.c_proj.bias", [d]);
            Plain(b + "ffn_norm.weight", h + "ln_2.weight", [d]);
            Plain(b + "ffn_norm.bias", h + "ln_2.bias", [d]);
            Conv1D(b + "ffn_up.weight", h + "mlp.c_fc.weight", [inner, d]);
            Plain(b + "ffn_up.bias", h + "mlp.c_fc.bias", [inner]);
            Conv1D(b + "ffn_down.weight", h + "mlp.c_proj.weight", [d, inner]);
            Plain(b + "ffn_down.bias", h + "mlp.c_proj.bias", [d]);
        }
        Plain("output_norm.weight", p + "ln_f.weight", [d]);
        Plain("output_norm.bias", p + "ln_f.bias", [d]);
        if (!c.TieWordEmbeddings) Plain("output.weight", "lm_head.weight", [c.VocabSize, d]);
        return w;
    }
}

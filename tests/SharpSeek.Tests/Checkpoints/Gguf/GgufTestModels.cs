using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using TorchSharp;

namespace SharpSeek.Tests.Checkpoints.Gguf;

/// <summary>Tiny seeded model folders (with the byte-level tokenizer) and SharpSeek's own logits and greedy tokens for them.</summary>
internal static class GgufTestModels
{
    public const string Gpt2 = """{"model_type": "gpt2", "vocab_size": 320, "n_positions": 64, "n_embd": 64, "n_layer": 2, "n_head": 4, "initializer_range": 0.02}""";

    /// <summary>GPT-2 with a separate output head (llama.cpp's <c>output.weight</c>).</summary>
    public const string Gpt2Untied = """{"model_type": "gpt2", "vocab_size": 320, "n_positions": 64, "n_embd": 64, "n_layer": 2, "n_head": 4, "tie_word_embeddings": false, "initializer_range": 0.02}""";

    /// <summary>MLA without query compression, dense MLP only.</summary>
    public const string DeepSeekDense = """
        {"model_type": "deepseek_v3", "vocab_size": 320, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "kv_lora_rank": 32, "q_lora_rank": null, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16,
         "n_routed_experts": 0, "max_position_embeddings": 64, "initializer_range": 0.1}
        """;

    /// <summary>MLA with query compression, a leading dense layer, then MoE: 8 sigmoid-routed experts in 4 groups (2 kept), a shared expert.</summary>
    public const string DeepSeekMoe = """
        {"model_type": "deepseek_v3", "vocab_size": 320, "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
         "num_hidden_layers": 3, "num_attention_heads": 4, "kv_lora_rank": 32, "q_lora_rank": 32, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16,
         "v_head_dim": 16, "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2, "n_group": 4, "topk_group": 2,
         "first_k_dense_replace": 1, "routed_scaling_factor": 2.5, "num_nextn_predict_layers": 1, "max_position_embeddings": 64, "initializer_range": 0.1}
        """;

    /// <summary>Dense MLA with YaRN (factor 4 over 16 original positions).</summary>
    public const string DeepSeekYarn = """
        {"model_type": "deepseek_v3", "vocab_size": 320, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "kv_lora_rank": 32, "q_lora_rank": null, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16,
         "n_routed_experts": 0, "max_position_embeddings": 64, "initializer_range": 0.1,
         "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707}}
        """;

    public static string Config(string name) => name switch
    {
        "gpt2" => Gpt2, "gpt2-untied" => Gpt2Untied, "deepseek-dense" => DeepSeekDense, "deepseek-moe" => DeepSeekMoe, "deepseek-yarn" => DeepSeekYarn,
        _ => throw new ArgumentException(name),
    };

    /// <summary>A model folder for <paramref name="configJson"/> with seeded weights and the byte-level tokenizer.</summary>
    public static string Create(string dir, string configJson, int seed = 1234)
    {
        using var model = ModelFactory.CreateAndSave(configJson, dir, seed);
        ByteTokenizerFiles.Write(dir);
        return dir;
    }

    /// <summary>Logits (T, V) at every position of <paramref name="tokens"/>.</summary>
    public static float[][] Logits(string dir, IReadOnlyList<int> tokens)
    {
        using var model = ModelLoader.Load(dir);
        using var _ = torch.no_grad();
        using var ids = torch.tensor(tokens.Select(t => (long)t).ToArray()).unsqueeze(0);
        using var logits = model.Logits(ids);
        long v = logits.shape[2];
        var flat = logits.contiguous().data<float>().ToArray();
        return Enumerable.Range(0, tokens.Count).Select(t => flat.AsSpan(t * (int)v, (int)v).ToArray()).ToArray();
    }

    /// <summary>The prompt then <paramref name="steps"/> greedy tokens (full forward each step).</summary>
    public static int[] Greedy(string dir, IReadOnlyList<int> prompt, int steps)
    {
        using var model = ModelLoader.Load(dir);
        using var _ = torch.no_grad();
        var seq = new List<int>(prompt);
        for (int s = 0; s < steps; s++)
        {
            using var scope = torch.NewDisposeScope();
            var ids = torch.tensor(seq.Select(t => (long)t).ToArray()).unsqueeze(0);
            var last = model.Logits(ids)[0, -1];
            seq.Add((int)last.argmax().item<long>());
        }
        return seq.ToArray();
    }

    /// <summary>A fixed prompt of byte ids ("To be, or not to be").</summary>
    public static readonly int[] Prompt = "To be, or not to be".Select(c => (int)c).ToArray();
}

using System.Text.Json;
using SharpSeek.Checkpoints;

namespace SharpSeek.Models;

/// <summary>What <c>sharpseek inspect</c> shows: sizes, compute and cache cost of a model folder, read from headers only.</summary>
public sealed record ModelInfo(
    string ModelType,
    string ConfigJson,
    long ParameterCount,
    long ActiveParameterCount,
    long FlopsPerToken,
    long KvCacheBytesPerToken,
    IReadOnlyList<SafeTensorInfo> Tensors)
{
    /// <summary>Reads config.json and the safetensors headers of <paramref name="dir"/> (no weights are loaded).</summary>
    public static ModelInfo Read(string dir)
    {
        string modelType = ModelLoader.ReadModelType(dir);
        string configJson = File.ReadAllText(Path.Combine(dir, "config.json"));
        using var ckpt = CheckpointFolder.Open(dir);
        var tensors = ckpt.Names.OrderBy(n => n, StringComparer.Ordinal).Select(ckpt.Info).ToList();
        long total = tensors.Sum(t => t.ElementCount);
        using var doc = JsonDocument.Parse(configJson);
        var c = doc.RootElement;
        int Int(string key, int fallback = 0) => c.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : fallback;

        long active = total, flops, kv;
        if (modelType == "deepseek_v3")
        {
            int layers = Int("num_hidden_layers"), ctx = Int("max_position_embeddings");
            int e = Int("n_routed_experts"), k = Int("num_experts_per_tok");
            long expertParams = tensors.Where(t => t.Name.Contains(".mlp.experts.")).Sum(t => t.ElementCount);
            if (e > 0) active = total - expertParams + expertParams * k / e;
            long embed = tensors.Where(t => t.Name == "model.embed_tokens.weight").Sum(t => t.ElementCount);
            int qk = Int("qk_nope_head_dim") + Int("qk_rope_head_dim"), heads = Int("num_attention_heads"), dv = Int("v_head_dim");
            flops = 2 * (active - embed) + 2L * layers * ctx * heads * (qk + dv);
            kv = (long)layers * (Int("kv_lora_rank") + Int("qk_rope_head_dim")) * 4;    // absorbed MLA cache, fp32
        }
        else
        {
            int layers = Int("n_layer"), d = Int("n_embd"), ctx = Int("n_positions");
            long wpe = tensors.Where(t => t.Name.EndsWith("wpe.weight")).Sum(t => t.ElementCount);
            bool tied = !c.TryGetProperty("tie_word_embeddings", out var tie) || tie.ValueKind != JsonValueKind.False;
            long wte = tensors.Where(t => t.Name.EndsWith("wte.weight")).Sum(t => t.ElementCount);
            // Matmul FLOPs: 2 per weight touched (the tied head counts once more) + attention over a full context.
            flops = 2 * (total - wpe - wte) + (tied ? 2 * wte : 0) + 2L * layers * ctx * d * 2;
            kv = 2L * layers * d * 4;                                                       // K and V, fp32
        }
        return new ModelInfo(modelType, configJson, total, active, flops, kv, tensors);
    }
}

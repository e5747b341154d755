using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// Grows a model's vocabulary (new special tokens): the token embedding and output-head rows (GPT-2's tied wte, or
/// DeepSeek's embed_tokens + lm_head, and an MTP shared head) get new rows set to the mean of the existing rows
/// (Hewitt 2021, "Initializing New Word Embeddings for Pretrained Language Models": the new tokens' logits then start
/// near the average and do not disturb the old distribution). Logits of the old tokens are unchanged.
/// </summary>
public static class VocabGrowth
{
    private static readonly string[] TokenRowSuffixes = ["wte.weight", "embed_tokens.weight", "lm_head.weight", "shared_head.head.weight"];

    /// <summary>Resizes every token-row parameter of <paramref name="model"/> from VocabSize to <paramref name="newVocabSize"/> rows in place.</summary>
    public static void Grow(CausalLM model, int newVocabSize)
    {
        int old = model.VocabSize;
        if (newVocabSize < old) throw new ConfigException($"Cannot shrink the vocabulary from {old} to {newVocabSize}.");
        if (newVocabSize == old) return;
        var rows = model.named_parameters()
            .Where(p => TokenRowSuffixes.Any(s => p.name.EndsWith(s, StringComparison.Ordinal)) && p.parameter.dim() == 2 && p.parameter.shape[0] == old)
            .Select(p => p.parameter).ToList();
        if (rows.Count == 0) throw new ConfigException($"{model.ModelType}: no token embedding or output head with {old} rows to grow.");
        using (torch.no_grad())
            foreach (var p in rows) GrowRows(p, newVocabSize);
        model.SetVocabSize(newVocabSize);
    }

    /// <summary>(V, C) → (newRows, C) in place: rows 0..V−1 kept, new rows = mean of the old rows.</summary>
    public static void GrowRows(TorchSharp.Modules.Parameter p, long newRows)
    {
        using var scope = torch.NewDisposeScope();
        long old = p.shape[0];
        var mean = p.mean([0], keepdim: true, type: ScalarType.Float32);          // (1, C)
        var requiresGrad = p.requires_grad;
        p.requires_grad_(false);
        var grown = torch.cat([p, mean.to(p.dtype).expand(newRows - old, -1)], 0).contiguous();   // (newRows, C)
        p.set_(grown);
        p.requires_grad_(requiresGrad);
    }
}

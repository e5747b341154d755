using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// Grows a model's vocabulary (new special tokens): the token embedding and output-head rows (GPT-2's tied wte, or
/// DeepSeek's embed_tokens + lm_head, and an MTP shared head) get new rows drawn around the mean of the existing rows,
/// mean + σ ⊙ z with σ the old rows' per-dimension standard deviation and z ~ N(0, 1) from torch's global generator (the
/// caller seeds it). Centred on the mean (Hewitt 2021, "Initializing New Word Embeddings for Pretrained Language Models")
/// the new tokens start as typical tokens, not dominant ones; spread like real tokens they are told apart from each other
/// from the start (rows that all equal the mean give <c>&lt;|im_start|&gt;</c> and <c>&lt;|im_end|&gt;</c> identical logits
/// forever when only LoRA adapters train). Logits of the old tokens are unchanged.
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

    /// <summary>
    /// Draws rows [<paramref name="from"/>, <paramref name="to"/>) of every token-row parameter afresh, as
    /// <see cref="Grow"/> draws new ones, from the statistics of rows [0, <paramref name="from"/>): for tokens added to a
    /// tokenizer whose ids fall in rows the model already has as padding (GPT-2's vocabulary rounded up to a multiple of 64),
    /// rows no token ever used and training only pushed down. Does nothing when the model has no such rows.
    /// </summary>
    public static void RedrawRows(CausalLM model, int from, int to)
    {
        if (from <= 0 || to <= from || to > model.VocabSize) return;
        int v = model.VocabSize;
        var rows = model.named_parameters()
            .Where(p => TokenRowSuffixes.Any(s => p.name.EndsWith(s, StringComparison.Ordinal)) && p.parameter.dim() == 2 && p.parameter.shape[0] == v)
            .Select(p => p.parameter).ToList();
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        foreach (var p in rows)
        {
            var used = p.narrow(0, 0, from).to(ScalarType.Float32);                     // (from, C)
            var fresh = used.mean([0], keepdim: true) + used.std([0], keepdim: true) * torch.randn(to - from, p.shape[1]);   // (to − from, C)
            p.narrow(0, from, to - from).copy_(fresh.to(p.dtype));
        }
    }

    /// <summary>(V, C) → (newRows, C) in place: rows 0..V−1 kept, new rows = mean + σ ⊙ z of the old rows (see the class summary).</summary>
    public static void GrowRows(TorchSharp.Modules.Parameter p, long newRows)
    {
        using var scope = torch.NewDisposeScope();
        long old = p.shape[0];
        var rows32 = p.to(ScalarType.Float32);
        var mean = rows32.mean([0], keepdim: true);                                 // (1, C)
        var std = rows32.std([0], keepdim: true);                                   // (1, C)
        var fresh = mean + std * torch.randn(newRows - old, p.shape[1]);            // (newRows − V, C)
        var requiresGrad = p.requires_grad;
        p.requires_grad_(false);
        var grown = torch.cat([p, fresh.to(p.dtype)], 0).contiguous();             // (newRows, C)
        p.set_(grown);
        p.requires_grad_(requiresGrad);
    }
}

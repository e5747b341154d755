using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.Gpt2;

/// <summary>GPT-2 trunk (HF <c>GPT2Model</c>): token + learned position embeddings, blocks, final LayerNorm. Radford et al. 2019.</summary>
public sealed class Gpt2Model : nn.Module
{
    [ComponentName(Name = "wte")] private readonly Embedding _wte;                 // (V, C)
    [ComponentName(Name = "wpe")] private readonly Embedding _wpe;                 // (P, C)
    [ComponentName(Name = "h")] private readonly ModuleList<Gpt2Block> _blocks;
    [ComponentName(Name = "ln_f")] private readonly LayerNorm _lnF;
    private readonly Gpt2Config _config;

    public Gpt2Model(Gpt2Config config) : base(nameof(Gpt2Model))
    {
        _config = config;
        _wte = nn.Embedding(config.VocabSize, config.NEmbd);
        _wpe = nn.Embedding(config.NPositions, config.NEmbd);
        _blocks = nn.ModuleList(Enumerable.Range(0, config.NLayer).Select(_ => new Gpt2Block(config)).ToArray());
        _lnF = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        RegisterComponents();
    }

    /// <summary>Dtype of every block's matmuls in mixed-precision training; null = the weights' own.</summary>
    internal ScalarType? ComputeDType { set { foreach (var block in _blocks) block.ComputeDType = value; } }

    /// <summary>Token embedding matrix (V, C), also the tied output head.</summary>
    public Parameter TokenEmbedding => _wte.weight!;

    /// <summary>
    /// ids (B, T) → hidden states after ln_f (B, T, C). See <see cref="Common.ICausalLM.Forward"/> for cache and mask.
    /// <paramref name="debug"/>, if given, receives embed_out, block_out.{i} and ln_f_out.
    /// </summary>
    public Tensor forward(Tensor ids, Gpt2KvCache? cache, Tensor? attentionMask, IDictionary<string, Tensor>? debug = null)
    {
        using var scope = torch.NewDisposeScope();
        long b = ids.shape[0], t = ids.shape[1];
        int past = cache?.Length ?? 0;
        if (past + t > _config.NPositions)
            throw new GenerationException($"sequence of {past + t} tokens is longer than the model's context (n_positions = {_config.NPositions})");

        Tensor positions, mask;
        if (attentionMask is not null)
        {
            if (attentionMask.shape[0] != b || attentionMask.shape[1] != past + t)
                throw new ArgumentException($"attention mask must be (B, past + T) = ({b}, {past + t}), got ({string.Join(", ", attentionMask.shape)})");
            var real = attentionMask.to(ScalarType.Bool);                                    // (B, L+T)
            positions = (real.to(ScalarType.Int64).cumsum(1) - 1).clamp_min(0).narrow(1, past, t);   // (B, T)
            mask = CausalMask(t, past, ids.device)                                            // (T, L+T)
                   .unsqueeze(0).logical_and(real.unsqueeze(1))                                // (B, T, L+T)
                   .logical_or(torch.eye(t, past + t, ScalarType.Bool, ids.device).roll(past, 1).unsqueeze(0)) // a query always sees itself
                   .unsqueeze(1);                                                              // (B, 1, T, L+T)
        }
        else
        {
            positions = torch.arange(past, past + t, ScalarType.Int64, ids.device).unsqueeze(0);     // (1, T)
            mask = past > 0 && t > 1 ? CausalMask(t, past, ids.device).unsqueeze(0).unsqueeze(0) : null!; // (1, 1, T, L+T)
        }

        var x = _wte.call(ids) + _wpe.call(positions);                                         // (B, T, C)
        if (training && _config.EmbdPdrop > 0) x = nn.functional.dropout(x, _config.EmbdPdrop, true);
        debug?.Add("embed_out", x.detach().clone().DetachFromDisposeScope());
        for (int i = 0; i < _blocks.Count; i++)
        {
            x = _blocks[i].forward(x, cache, i, mask);                                           // (B, T, C)
            debug?.Add($"block_out.{i}", x.detach().clone().DetachFromDisposeScope());
        }
        cache?.Advance((int)t);
        x = _lnF.call(x);
        debug?.Add("ln_f_out", x.detach().clone().DetachFromDisposeScope());
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Bool (T, L+T): query i (at position L+i) may attend key j when j ≤ L+i.</summary>
    private static Tensor CausalMask(long t, int past, Device device) =>
        torch.ones(t, past + t, ScalarType.Bool, device).tril(past);
}

using TorchSharp;
using TorchSharp.Utils;
using TorchSharp.Modules;
using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// DeepSeekMoE layer (Dai et al. 2024; DeepSeek-V3 §2.1.2): fine-grained routed SwiGLU experts chosen by
/// <see cref="MoeGate"/> plus always-on shared experts. Tokens are dispatched in batches: sorted by expert, gathered,
/// run through each expert once, and scattered back with index_add.
/// </summary>
public sealed class DeepSeekMoe : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "gate")] private readonly MoeGate _gate;
    [ComponentName(Name = "experts")] private readonly ModuleList<DeepSeekMlp> _experts;
    [ComponentName(Name = "shared_experts")] private readonly DeepSeekMlp? _shared;
    private readonly int _nExperts, _topk;
    private readonly double _auxAlpha;
    private readonly long[] _stepCounts;

    public DeepSeekMoe(DeepSeekV3Config c) : base(nameof(DeepSeekMoe))
    {
        _nExperts = c.NRoutedExperts; _topk = c.NumExpertsPerTok; _auxAlpha = c.AuxLossAlpha;
        _gate = new MoeGate(c);
        _experts = new ModuleList<DeepSeekMlp>(Enumerable.Range(0, _nExperts).Select(_ => new DeepSeekMlp(c.HiddenSize, c.MoeIntermediateSize)).ToArray());
        if (c.NSharedExperts > 0) _shared = new DeepSeekMlp(c.HiddenSize, c.MoeIntermediateSize * c.NSharedExperts);
        _stepCounts = new long[_nExperts];
        RegisterComponents();
    }

    public MoeGate Gate => _gate;

    /// <summary>When true, <see cref="LastRouting"/> keeps the chosen experts and weights of the last forward.</summary>
    public bool RecordRouting { get; set; }

    /// <summary>Chosen experts (B, T, k) and their weights (B, T, k) of the last forward, if <see cref="RecordRouting"/>.</summary>
    public (Tensor Indices, Tensor Weights)? LastRouting { get; private set; }

    /// <summary>Tokens routed to each expert (E) since the last <see cref="TakeLoadCounts"/>, counted in training mode.</summary>
    public long[] PeekLoadCounts() => (long[])_stepCounts.Clone();

    /// <summary>Returns the per-expert token counts gathered in training mode since the last call and resets them.</summary>
    public long[] TakeLoadCounts() { var c = PeekLoadCounts(); Array.Clear(_stepCounts); return c; }

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <summary>
    /// x (B, T, D) → (B, T, D). In training with α &gt; 0 the sequence-wise balance loss (<see cref="BalanceLoss"/>) is added
    /// to <paramref name="auxiliaryLosses"/> (detached from every dispose scope), which the model returns in its output.
    /// </summary>
    public Tensor Forward(Tensor x, List<Tensor>? auxiliaryLosses)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2];
        var flat = x.reshape(-1, d);                                                          // (N, D)
        var scores = _gate.Scores(flat);                                                      // (N, E)
        var (indices, weights) = _gate.Route(scores);                                         // (N, k), (N, k)

        var flatExpert = indices.reshape(-1);                                                 // (N·k)
        var (_, order) = flatExpert.sort(0, false, true);                                     // (N·k) grouped by expert, stable
        var tokenOf = order.div(_topk, rounding_mode: RoundingMode.floor);                   // (N·k) source token of each slot
        var sortedWeights = weights.reshape(-1).index_select(0, order).unsqueeze(-1);        // (N·k, 1)
        var gathered = flat.index_select(0, tokenOf);                                         // (N·k, D)
        long[] counts = torch.bincount(flatExpert, minlength: _nExperts).cpu().data<long>().ToArray();

        var routed = torch.zeros_like(flat);                                                  // (N, D)
        long offset = 0;
        for (int e = 0; e < _nExperts; e++)
        {
            if (counts[e] == 0) continue;
            var y = _experts[e].call(gathered.narrow(0, offset, counts[e])) * sortedWeights.narrow(0, offset, counts[e]);   // (n_e, D)
            routed = routed.index_add(0, tokenOf.narrow(0, offset, counts[e]), y, 1);          // (N, D)
            offset += counts[e];
        }
        var output = routed.to(x.dtype);
        if (_shared is not null) output = output + _shared.call(flat);                       // (N, D)

        if (training)
        {
            for (int e = 0; e < _nExperts; e++) _stepCounts[e] += counts[e];
            if (_auxAlpha > 0 && auxiliaryLosses is not null)
                auxiliaryLosses.Add(BalanceLoss(scores.view(b, t, -1), indices.view(b, t, -1)).DetachFromDisposeScope());   // the model adopts it
        }
        if (RecordRouting)
        {
            LastRouting?.Indices.Dispose(); LastRouting?.Weights.Dispose();
            LastRouting = (indices.view(b, t, -1).detach().DetachFromDisposeScope(), weights.view(b, t, -1).detach().DetachFromDisposeScope());
        }
        return output.view(b, t, d).MoveToOuterDisposeScope();                               // (B, T, D)
    }

    /// <summary>
    /// Complementary sequence-wise balance loss (DeepSeek-V3 eq. 17–20): α·Σ_i f_i·P_i per sequence, averaged over the batch,
    /// with f_i = E/(k·T)·#tokens routed to i and P_i the mean of the sum-normalised affinities.
    /// </summary>
    public Tensor BalanceLoss(Tensor scores, Tensor indices)                               // scores: (B, T, E); indices: (B, T, k)
    {
        using var scope = torch.NewDisposeScope();
        long t = scores.shape[1];
        var normalised = scores / scores.sum(-1, keepdim: true);                              // (B, T, E)
        var p = normalised.mean([1L]);                                                        // (B, E)
        var hits = torch.zeros_like(scores).scatter_(2, indices, torch.ones_like(indices, dtype: scores.dtype));   // (B, T, E)
        var f = hits.sum(1) * ((double)_nExperts / (_topk * t));                             // (B, E)
        return ((f.detach() * p).sum(-1).mean() * _auxAlpha).MoveToOuterDisposeScope();      // scalar
    }
}

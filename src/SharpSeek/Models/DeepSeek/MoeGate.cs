using TorchSharp;
using TorchSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// DeepSeek-V3 router (§2.1.2): sigmoid affinities, <c>e_score_correction_bias</c> added for expert selection only,
/// group-limited top-k (groups ranked by the sum of their two best biased scores), weights = the chosen unbiased
/// scores normalised to 1 × routed_scaling_factor.
/// </summary>
public sealed class MoeGate : nn.Module<Tensor, (Tensor Indices, Tensor Weights)>
{
    private readonly Parameter weight;                                                        // HF key: mlp.gate.weight (E, D)
    [ComponentName(Name = "e_score_correction_bias")] private readonly Tensor _bias;        // HF key: mlp.gate.e_score_correction_bias (E)
    private readonly int _experts, _topk, _groups, _topkGroup;
    private readonly double _scaling;

    public MoeGate(DeepSeekV3Config c) : base(nameof(MoeGate))
    {
        _experts = c.NRoutedExperts; _topk = c.NumExpertsPerTok; _groups = c.NGroup; _topkGroup = c.TopkGroup;
        _scaling = c.RoutedScalingFactor;
        weight = nn.Parameter(torch.empty(_experts, c.HiddenSize));
        _bias = torch.zeros(_experts);
        RegisterComponents();
    }

    /// <summary>The selection bias (a buffer: changed by <see cref="ApplyBiasUpdate"/>, never by the optimizer).</summary>
    public Tensor Bias => _bias;

    /// <summary>Unbiased sigmoid affinities s (N, E) for tokens <paramref name="x"/> (N, D).</summary>
    public Tensor Scores(Tensor x) => torch.sigmoid(nn.functional.linear(x, weight));

    /// <summary>Routes tokens <paramref name="x"/> (N, D): chosen experts (N, k) by descending biased score, and their weights (N, k).</summary>
    public override (Tensor Indices, Tensor Weights) forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var scores = Scores(x);                                                             // (N, E)
        var (indices, weights) = Route(scores);
        return (indices.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope());
    }

    /// <summary>Selection and weights from precomputed unbiased scores (N, E).</summary>
    public (Tensor Indices, Tensor Weights) Route(Tensor scores)
    {
        using var scope = torch.NewDisposeScope();
        long n = scores.shape[0];
        Tensor biased;
        using (torch.no_grad()) biased = scores.detach() + _bias;                          // (N, E) selection only
        if (_groups > 1)
        {
            var grouped = biased.view(n, _groups, -1);                                      // (N, G, E/G)
            var groupScores = grouped.topk(2, dim: -1).values.sum(-1);                      // (N, G)
            var keepGroups = groupScores.topk(_topkGroup, dim: -1).indexes;                 // (N, topk_group)
            var keep = torch.zeros(n, _groups, dtype: ScalarType.Bool, device: scores.device)
                .scatter_(1, keepGroups, torch.ones_like(keepGroups, dtype: ScalarType.Bool)); // (N, G)
            biased = grouped.masked_fill(keep.logical_not().unsqueeze(-1), float.NegativeInfinity).view(n, _experts);   // (N, E)
        }
        var indices = biased.topk(_topk, dim: -1).indexes;                                  // (N, k) descending biased score
        var w = scores.gather(1, indices);                                                  // (N, k) unbiased
        w = w / w.sum(-1, keepdim: true) * _scaling;                                        // (N, k)
        return (indices.MoveToOuterDisposeScope(), w.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Auxiliary-loss-free balancing step (DeepSeek-V3 §2.1.2): bias_i += γ · sign(mean_load − load_i) for the token
    /// counts <paramref name="loadCounts"/> (E) of one step. Pure: returns the new bias.
    /// </summary>
    public static Tensor UpdateBias(Tensor bias, Tensor loadCounts, double gamma)
    {
        using var scope = torch.NewDisposeScope();
        var load = loadCounts.to(ScalarType.Float32);                                      // (E)
        var step = torch.sign(load.mean() - load) * gamma;                                  // (E)
        return (bias + step.to(bias.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>Applies <see cref="UpdateBias(Tensor, Tensor, double)"/> to this gate's bias in place.</summary>
    public void ApplyBiasUpdate(Tensor loadCounts, double gamma)
    {
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad()) _bias.copy_(UpdateBias(_bias, loadCounts.to(_bias.device), gamma));
    }
}

using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SharpSeek.Kernels;

namespace SharpSeek.Training;

/// <summary>
/// AdamW parameter groups (Loshchilov &amp; Hutter 2019, decoupled weight decay) by nanoGPT's rule: tensors with ≥ 2 dimensions
/// decay; biases and norm gains (1-D) do not; embedding tables do not either unless asked. Tied tensors count once.
/// </summary>
public sealed record ParamGroups(IReadOnlyList<(string Name, Parameter Param)> Decay, IReadOnlyList<(string Name, Parameter Param)> NoDecay)
{
    /// <summary>Splits the trainable parameters of <paramref name="model"/>.</summary>
    public static ParamGroups Assign(nn.Module model, bool decayEmbeddings)
    {
        var embeddingData = new HashSet<IntPtr>();
        foreach (var (_, m) in model.named_modules())
            if (m is Embedding e) embeddingData.Add(DataPointer(e.weight!));

        var seen = new HashSet<IntPtr>();
        var decay = new List<(string, Parameter)>();
        var noDecay = new List<(string, Parameter)>();
        foreach (var (name, p) in model.named_parameters())
        {
            if (!p.requires_grad || !seen.Add(DataPointer(p))) continue;
            bool isEmbedding = embeddingData.Contains(DataPointer(p));
            bool decays = p.dim() >= 2 && (decayEmbeddings || !isEmbedding);
            (decays ? decay : noDecay).Add((name, p));
        }
        return new ParamGroups(decay, noDecay);
    }

    // Wrappers of one tensor may differ (tied weights, native getters); the address of its first element identifies it.
    private static unsafe IntPtr DataPointer(Tensor t) => (IntPtr)TensorData.Pointer(t);

    /// <summary>All parameters in optimizer order (decay group first).</summary>
    public IEnumerable<Parameter> All => Decay.Concat(NoDecay).Select(x => x.Param);

    /// <summary>AdamW over both groups (<see cref="FusedAdamW"/>: one pass per parameter); the learning rate is set every step by the trainer.</summary>
    public AdamW CreateAdamW(TrainConfig c)
    {
        var groups = new List<AdamW.ParamGroup>
        {
            new(Decay.Select(x => x.Param), new AdamW.Options { LearningRate = c.Lr, beta1 = c.Beta1, beta2 = c.Beta2, eps = c.Eps, weight_decay = c.WeightDecay }),
            new(NoDecay.Select(x => x.Param), new AdamW.Options { LearningRate = c.Lr, beta1 = c.Beta1, beta2 = c.Beta2, eps = c.Eps, weight_decay = 0 }),
        };
        return new FusedAdamW(groups, c.Lr, c.Beta1, c.Beta2, c.Eps, c.WeightDecay);
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Training;

/// <summary>
/// Mixed precision without autocast (Micikevicius et al. 2018, "Mixed Precision Training"): a model that implements
/// <see cref="IComputeDTypeModel"/> is switched to bf16 matmuls itself; in any other model every <see cref="Linear"/>
/// computes <c>linear(x.bf16, W.bf16, b.bf16).float32</c> through hooks. Parameters stay float32 master weights; autograd
/// casts the gradients back to float32, so the optimizer state, norms and loss stay float32. Dispose to restore plain float32.
/// </summary>
public sealed class Bf16Compute : IDisposable
{
    private readonly List<Action> _removers = new();
    private IComputeDTypeModel? _model;

    private Bf16Compute() { }

    /// <summary>Switches <paramref name="model"/> to <paramref name="computeType"/> matmuls (itself, or through hooks on every Linear).</summary>
    public static Bf16Compute Enable(nn.Module model, ScalarType computeType = ScalarType.BFloat16)
    {
        var result = new Bf16Compute();
        if (model is IComputeDTypeModel custom)
        {
            custom.SetComputeDType(computeType);
            result._model = custom;
            return result;
        }
        var seen = new HashSet<Linear>(ReferenceEqualityComparer.Instance);
        foreach (var (_, m) in model.named_modules())
            if (m is Linear linear && seen.Add(linear)) result.Hook(linear, computeType);   // a module listed twice gets one hook pair
        return result;
    }

    // TorchSharp runs Linear.forward between the hooks, and that forward always uses the float32 weight. The pre-hook
    // therefore keeps the real input aside and hands forward an empty batch (nothing to compute); the post-hook
    // computes the real output in bf16 from the kept input.
    private void Hook(Linear linear, ScalarType computeType)
    {
        Tensor? pending = null;
        var pre = linear.register_forward_pre_hook((m, x) =>
        {
            pending = x;
            return x.new_empty([0, x.shape[^1]]);                                          // (0, in)
        });
        var post = linear.register_forward_hook((m, _, _) =>
        {
            var x = pending!;
            pending = null;
            var l = (Linear)m;
            var y = nn.functional.linear(x.to(computeType), l.weight.to(computeType), l.bias?.to(computeType));   // (…, out)
            return y.to(x.dtype);
        });
        _removers.Add(pre.remove);
        _removers.Add(post.remove);
    }

    public void Dispose()
    {
        foreach (var remove in _removers) remove();
        _removers.Clear();
        _model?.SetComputeDType(ScalarType.Float32);
        _model = null;
    }
}

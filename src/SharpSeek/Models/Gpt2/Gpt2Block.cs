using SharpSeek.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.Gpt2;

/// <summary>Pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). Radford et al. 2019.</summary>
public sealed class Gpt2Block : nn.Module
{
    [ComponentName(Name = "ln_1")] private readonly LayerNorm _ln1;
    [ComponentName(Name = "attn")] private readonly Gpt2Attention _attn;
    [ComponentName(Name = "ln_2")] private readonly LayerNorm _ln2;
    [ComponentName(Name = "mlp")] private readonly Gpt2Mlp _mlp;
    private readonly int _nEmbd;
    private readonly double _eps;

    public Gpt2Block(Gpt2Config config) : base(nameof(Gpt2Block))
    {
        _ln1 = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        _attn = new Gpt2Attention(config);
        _ln2 = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        _mlp = new Gpt2Mlp(config);
        _nEmbd = config.NEmbd;
        _eps = config.LayerNormEpsilon;
        RegisterComponents();
    }

    /// <summary>Dtype of causal attention in mixed-precision training; null = the weights' own.</summary>
    internal ScalarType? ComputeDType { set => _attn.ComputeDType = value; }

    /// <summary>Whether <see cref="DecodeStep"/> may run (no mixed-precision compute dtype, a supported activation).</summary>
    internal bool CanDecodeStep => _attn.CanDecodeStep && _mlp.CanDecodeStep;

    /// <summary>
    /// The decode fast path of one token (see <see cref="Gpt2Model"/>): <see cref="forward"/>'s maths in place on the
    /// residual stream x (C floats); h, a: (1, 1, C) float32 scratch; scores: H × capacity floats of scratch.
    /// </summary>
    internal unsafe void DecodeStep(float* x, Tensor h, Tensor a, Gpt2KvCache cache, int layer, int pos, float* scores)
    {
        float* hp = DecodeOps.Address(h);
        DecodeOps.LayerNorm(x, DecodeOps.Address(_ln1.weight!), DecodeOps.Address(_ln1.bias!), hp, _nEmbd, _eps);
        _attn.DecodeStep(h, a, x, cache, layer, pos, scores);
        DecodeOps.LayerNorm(x, DecodeOps.Address(_ln2.weight!), DecodeOps.Address(_ln2.bias!), hp, _nEmbd, _eps);
        _mlp.DecodeStep(h, x, _nEmbd);
    }

    public Tensor forward(Tensor x, Gpt2KvCache? cache, int layer, Tensor? mask, List<Tensor>? probabilities = null)   // x: (B, T, C)
    {
        using var scope = torch.NewDisposeScope();
        x = x + _attn.forward(_ln1.call(x), cache, layer, mask, probabilities);
        x = x + _mlp.call(_ln2.call(x));
        return x.MoveToOuterDisposeScope();
    }
}

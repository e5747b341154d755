using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;
using SharpSeek.Kernels;

namespace SharpSeek.Models.Gpt2;

/// <summary>GPT-2 feed-forward block: Linear(C→4C), GELU (tanh form, "gelu_new"; <see cref="GeluTanh"/>), Linear(4C→C). Radford et al. 2019.</summary>
public sealed class Gpt2Mlp : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "c_fc")] private readonly Projection _fc;       // HF key: mlp.c_fc
    [ComponentName(Name = "c_proj")] private readonly Projection _proj;   // HF key: mlp.c_proj
    private readonly string _activation;
    private readonly double _dropout;

    public Gpt2Mlp(Gpt2Config config) : base(nameof(Gpt2Mlp))
    {
        _fc = new Projection(config.NEmbd, config.InnerSize);
        _proj = new Projection(config.InnerSize, config.NEmbd);
        _activation = config.ActivationFunction;
        _dropout = config.ResidPdrop;
        RegisterComponents();
    }

    /// <summary>Whether <see cref="DecodeStep"/> may run: a tanh GELU or ReLU, projections in the weights' dtype.</summary>
    internal bool CanDecodeStep => _activation is "gelu_new" or "gelu_pytorch_tanh" or "relu" && _fc.ComputeDType is null && _proj.ComputeDType is null;

    /// <summary>The decode fast path of one token (see <see cref="Gpt2Model"/>): x += c_proj(act(c_fc(h))), h (1, 1, C) float32, x: C floats.</summary>
    internal unsafe void DecodeStep(Tensor h, float* x, int nEmbd)
    {
        using var f = DecodeOps.Float32(_fc.call(h));                                     // (1, 1, 4C)
        float* fp = DecodeOps.Address(f);
        int inner = (int)_fc.OutFeatures;
        if (_activation == "relu") DecodeOps.Relu(fp, inner);
        else GeluTanh.ApplyInPlace(fp, inner);
        using var y = DecodeOps.Float32(_proj.call(f));                                   // (1, 1, C)
        DecodeOps.Add(x, DecodeOps.Address(y), nEmbd);
    }

    public override Tensor forward(Tensor x)                          // x: (B, T, C)
    {
        using var scope = torch.NewDisposeScope();
        var h = _fc.call(x);              // (B, T, 4C)
        h = _activation switch
        {
            "gelu_new" or "gelu_pytorch_tanh" => GeluTanh.Apply(h),
            "gelu" => nn.functional.gelu(h),
            "relu" => nn.functional.relu(h),
            _ => throw new ConfigException($"activation_function '{_activation}' is not supported"),
        };
        var y = _proj.call(h);            // (B, T, C)
        if (training && _dropout > 0) y = nn.functional.dropout(y, _dropout, true);
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }
}

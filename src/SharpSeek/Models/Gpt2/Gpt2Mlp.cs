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

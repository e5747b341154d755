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

    public Gpt2Block(Gpt2Config config) : base(nameof(Gpt2Block))
    {
        _ln1 = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        _attn = new Gpt2Attention(config);
        _ln2 = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        _mlp = new Gpt2Mlp(config);
        RegisterComponents();
    }

    /// <summary>Dtype of causal attention in mixed-precision training; null = the weights' own.</summary>
    internal ScalarType? ComputeDType { set => _attn.ComputeDType = value; }

    public Tensor forward(Tensor x, Gpt2KvCache? cache, int layer, Tensor? mask, List<Tensor>? probabilities = null)   // x: (B, T, C)
    {
        using var scope = torch.NewDisposeScope();
        x = x + _attn.forward(_ln1.call(x), cache, layer, mask, probabilities);
        x = x + _mlp.call(_ln2.call(x));
        return x.MoveToOuterDisposeScope();
    }
}

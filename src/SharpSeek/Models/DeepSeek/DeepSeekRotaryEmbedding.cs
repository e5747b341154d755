using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// Rotary position embedding on the rope part of q and k, interleaved pairs (x[2j], x[2j+1]) as in DeepSeek's
/// inference code (Su et al. 2021, "RoFormer"), with YaRN frequency interpolation when <c>rope_scaling</c> is set
/// (Peng et al. 2023). Holds cos/sin tables for every position; not a module, so nothing reaches the state dict.
/// </summary>
public sealed class DeepSeekRotaryEmbedding : IDisposable
{
    private Tensor _cos;   // (P, r/2)
    private Tensor _sin;   // (P, r/2)

    public DeepSeekRotaryEmbedding(DeepSeekV3Config config)
    {
        var invFreq = InverseFrequencies(config);
        int positions = config.MaxPositionEmbeddings;
        var angles = new float[positions * invFreq.Length];
        var cos = new float[angles.Length];
        var sin = new float[angles.Length];
        for (int p = 0; p < positions; p++)
            for (int j = 0; j < invFreq.Length; j++)
            {
                double a = p * invFreq[j];
                cos[p * invFreq.Length + j] = (float)Math.Cos(a);
                sin[p * invFreq.Length + j] = (float)Math.Sin(a);
            }
        _cos = torch.tensor(cos).view(positions, invFreq.Length).DetachFromDisposeScope();
        _sin = torch.tensor(sin).view(positions, invFreq.Length).DetachFromDisposeScope();
    }

    /// <summary>inv_freq[j] = θ^(-2j/r), blended towards inv_freq/f outside the YaRN ramp [low, high].</summary>
    public static double[] InverseFrequencies(DeepSeekV3Config config)
    {
        int r = config.QkRopeHeadDim;
        var inv = new double[r / 2];
        for (int j = 0; j < inv.Length; j++) inv[j] = Math.Pow(config.RopeTheta, -2.0 * j / r);
        if (config.RopeScaling is not { } y) return inv;

        double Corr(double rotations) => r * Math.Log(y.OriginalMaxPositionEmbeddings / (rotations * 2 * Math.PI)) / (2 * Math.Log(config.RopeTheta));
        double low = Math.Max(Math.Floor(Corr(y.BetaFast)), 0);
        double high = Math.Min(Math.Ceiling(Corr(y.BetaSlow)), r - 1);
        if (low == high) high += 0.001;
        for (int j = 0; j < inv.Length; j++)
        {
            double ramp = Math.Clamp((j - low) / (high - low), 0, 1);
            inv[j] = inv[j] / y.Factor * ramp + inv[j] * (1 - ramp);
        }
        return inv;
    }

    /// <summary>cos and sin for <paramref name="positions"/> (B, T) int64: each (B, 1, T, r/2), ready to broadcast over heads.</summary>
    public (Tensor Cos, Tensor Sin) At(Tensor positions)
    {
        if (_cos.device_type != positions.device_type || _cos.device_index != positions.device_index)
        {
            var (cos0, sin0) = (_cos, _sin);
            _cos = cos0.to(positions.device).DetachFromDisposeScope(); _sin = sin0.to(positions.device).DetachFromDisposeScope();
            cos0.Dispose(); sin0.Dispose();
        }
        long b = positions.shape[0], t = positions.shape[1];
        var flat = positions.reshape(-1);                                                   // (B·T)
        var cos = _cos.index_select(0, flat).view(b, 1, t, -1);                             // (B, 1, T, r/2)
        var sin = _sin.index_select(0, flat).view(b, 1, t, -1);                             // (B, 1, T, r/2)
        return (cos, sin);
    }

    /// <summary>Rotates each pair (x[2j], x[2j+1]) of <paramref name="x"/> (B, H, T, r) by the angle whose cos/sin are given.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = torch.NewDisposeScope();
        var shape = x.shape;
        var pairs = x.view(shape[0], shape[1], shape[2], -1, 2);                            // (B, H, T, r/2, 2)
        var x0 = pairs.select(-1, 0);                                                       // (B, H, T, r/2)
        var x1 = pairs.select(-1, 1);
        var rotated = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], -1);          // (B, H, T, r/2, 2)
        return rotated.view(shape).MoveToOuterDisposeScope();                               // (B, H, T, r)
    }

    public void Dispose() { _cos.Dispose(); _sin.Dispose(); }
}

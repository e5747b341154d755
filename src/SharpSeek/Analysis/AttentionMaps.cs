using SharpSeek.Models.Common;
using TorchSharp;

namespace SharpSeek.Analysis;

/// <summary>
/// Attention probabilities of one sequence, read from the model contract (<see cref="CausalLMInput.OutputAttentions"/> →
/// <see cref="CausalLMOutput.Attentions"/>), so every family and attention path (GPT-2, MLA naive or absorbed) is covered
/// without a copy of its attention code. <c>Probs[layer][head][query, key]</c>; row q sums to 1 over keys 0..q.
/// </summary>
public sealed class AttentionMaps
{
    /// <summary>(L)(H)(T, T) probabilities as float32.</summary>
    public required IReadOnlyList<IReadOnlyList<float[,]>> Probs { get; init; }

    public int Layers => Probs.Count;
    public int Heads => Probs[0].Count;
    public int Tokens => Probs[0][0].GetLength(0);

    /// <summary>One forward of <paramref name="ids"/> (a single row, no cache) asking for attentions; the model's mode is left as found.</summary>
    public static AttentionMaps Compute(CausalLM model, IReadOnlyList<int> ids)
    {
        if (ids.Count == 0) throw new ConfigException("the text encodes to no tokens");
        if (ids.Count > model.MaxSequenceLength)
            throw new ConfigException($"the text is {ids.Count} tokens, more than the model's context of {model.MaxSequenceLength}");
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var input = torch.tensor(ids.Select(i => (long)i).ToArray(), device: model.Device).unsqueeze(0);   // (1, T)
        using var output = model.call(new CausalLMInput(input) { OutputAttentions = true, ComputeLogits = false });
        var attentions = output.Attentions ?? throw new InvalidOperationException($"{model.ModelType} returned no attentions");
        var layers = new List<IReadOnlyList<float[,]>>();
        foreach (var a in attentions)                                                  // (1, H, T, T)
        {
            var p = a[0].to(torch.ScalarType.Float32).cpu().contiguous();             // (H, T, T)
            long h = p.shape[0], t = p.shape[1], s = p.shape[2];
            var flat = p.data<float>().ToArray();
            var heads = new List<float[,]>();
            for (int k = 0; k < h; k++)
            {
                var m = new float[t, s];
                for (int q = 0; q < t; q++)
                    for (int j = 0; j < s; j++) m[q, j] = flat[(k * t + q) * s + j];
                heads.Add(m);
            }
            layers.Add(heads);
        }
        return new AttentionMaps { Probs = layers };
    }

    /// <summary>Shannon entropy −Σ p ln p (nats) of one distribution; zero entries add nothing.</summary>
    public static double Entropy(ReadOnlySpan<float> p)
    {
        double h = 0;
        foreach (float v in p) if (v > 0) h -= v * Math.Log(v);
        return h;
    }

    /// <summary>Mean over query rows of the entropy of each row of <paramref name="map"/> (T, S).</summary>
    public static double MeanRowEntropy(float[,] map)
    {
        int t = map.GetLength(0), s = map.GetLength(1);
        var row = new float[s];
        double sum = 0;
        for (int q = 0; q < t; q++)
        {
            for (int j = 0; j < s; j++) row[j] = map[q, j];
            sum += Entropy(row);
        }
        return sum / t;
    }

    /// <summary>(L, H) mean attention entropy per head per layer, in nats (0 = each query looks at one key).</summary>
    public double[,] EntropySummary()
    {
        var e = new double[Layers, Heads];
        for (int l = 0; l < Layers; l++)
            for (int h = 0; h < Heads; h++) e[l, h] = MeanRowEntropy(Probs[l][h]);
        return e;
    }

    /// <summary>Throws <see cref="ConfigException"/> unless <paramref name="layer"/> (and <paramref name="head"/> when given) exist.</summary>
    public void CheckIndex(int layer, int? head)
    {
        if (layer < 0 || layer >= Layers) throw new ConfigException($"--layer {layer} is out of range: the model has layers 0..{Layers - 1}");
        if (head is int k && (k < 0 || k >= Heads)) throw new ConfigException($"--head {k} is out of range: the model has heads 0..{Heads - 1}");
    }
}

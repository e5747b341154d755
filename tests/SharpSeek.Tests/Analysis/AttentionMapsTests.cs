using SharpSeek.Analysis;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Tests.Generation;

namespace SharpSeek.Tests.Analysis;

public class AttentionMapsTests
{
    private static readonly int[] Ids = [5, 17, 200, 3, 3, 91, 42, 7];

    [Theory]
    [InlineData(TestModels.Gpt2)]
    [InlineData(TestModels.DeepSeek)]
    public void Compute_TinyModel_RowsSumToOneAndAreCausal(string family)
    {
        using var model = TestModels.Create(family);
        var maps = AttentionMaps.Compute(model, Ids);
        Assert.Equal(2, maps.Layers);
        Assert.Equal(2, maps.Heads);
        Assert.Equal(Ids.Length, maps.Tokens);
        foreach (var layer in maps.Probs)
            foreach (var map in layer)
                for (int q = 0; q < Ids.Length; q++)
                {
                    double sum = 0;
                    for (int k = 0; k < Ids.Length; k++)
                    {
                        if (k > q) Assert.Equal(0f, map[q, k]);
                        sum += map[q, k];
                    }
                    Assert.Equal(1.0, sum, 5);
                }
    }

    [Fact]
    public void Compute_MlaAbsorbedPath_SameMapsAsNaive()
    {
        using var model = (DeepSeekV3ForCausalLM)TestModels.Create(TestModels.DeepSeek);
        model.AttentionImpl = AttentionImpl.Naive;
        var naive = AttentionMaps.Compute(model, Ids);
        model.AttentionImpl = AttentionImpl.Absorbed;
        var absorbed = AttentionMaps.Compute(model, Ids);
        double worst = 0;
        for (int l = 0; l < naive.Layers; l++)
            for (int h = 0; h < naive.Heads; h++)
                for (int q = 0; q < Ids.Length; q++)
                    for (int k = 0; k < Ids.Length; k++)
                        worst = Math.Max(worst, Math.Abs(naive.Probs[l][h][q, k] - absorbed.Probs[l][h][q, k]));
        Assert.True(worst < 1e-5, $"largest difference {worst}");
        Assert.True(naive.Probs[1][0][Ids.Length - 1, 0] is > 0f and < 1f);   // a real spread, not a degenerate map
    }

    [Fact]
    public void Compute_TextLongerThanContext_ThrowsConfigException()
    {
        using var model = TestModels.Create(TestModels.Gpt2, positions: 4);
        Assert.Throws<ConfigException>(() => AttentionMaps.Compute(model, Ids));
    }

    [Fact]
    public void Entropy_UniformOverTwo_IsLn2()
    {
        Assert.Equal(Math.Log(2), AttentionMaps.Entropy([0.5f, 0.5f, 0f]), 9);
        Assert.Equal(0.0, AttentionMaps.Entropy([1f, 0f]), 12);
    }

    [Fact]
    public void MeanRowEntropy_OnePeakedRowOneUniformRow_IsHalfLn2()
    {
        var map = new float[,] { { 1f, 0f }, { 0.5f, 0.5f } };
        Assert.Equal(Math.Log(2) / 2, AttentionMaps.MeanRowEntropy(map), 9);
    }

    [Fact]
    public void EntropySummary_CausalFirstRowAlwaysZero_BelowLogOfLength()
    {
        using var model = TestModels.Create(TestModels.Gpt2);
        var maps = AttentionMaps.Compute(model, Ids);
        var e = maps.EntropySummary();
        // Each row q has at most q + 1 keys, so the mean entropy is at most mean_q ln(q + 1).
        double bound = Enumerable.Range(1, Ids.Length).Average(n => Math.Log(n));
        foreach (double v in e) Assert.InRange(v, 0, bound + 1e-9);
    }

    [Theory]
    [InlineData("a b", "a·b")]
    [InlineData("\n", "↵")]
    [InlineData("", "∅")]
    [InlineData("abcdefghijklmnop", "abcdefghijk…")]
    public void Label_Whitespace_MadeVisible(string token, string expected) => Assert.Equal(expected, AttentionPlot.Label(token));
}

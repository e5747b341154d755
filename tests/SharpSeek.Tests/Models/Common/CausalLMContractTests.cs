using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.Common;

/// <summary>The <see cref="CausalLM"/> contract, on both families.</summary>
public class CausalLMContractTests
{
    public static TheoryData<string> Families => new() { "gpt2", "deepseek" };

    private static CausalLM Create(string family, double auxAlpha = 0, int mtp = 0)
    {
        manual_seed(11);
        CausalLM model = family == "gpt2"
            ? new Gpt2LMHeadModel(new Gpt2Config { VocabSize = 40, NPositions = 16, NEmbd = 32, NLayer = 3, NHead = 4 })
            : new DeepSeekV3ForCausalLM(new DeepSeekV3Config { VocabSize = 40, NumHiddenLayers = 3, AuxLossAlpha = auxAlpha, NumNextnPredictLayers = mtp });
        model.eval();
        return model;
    }

    private static int Layers(CausalLM m) => m is Gpt2LMHeadModel g ? g.Config.NLayer : ((DeepSeekV3ForCausalLM)m).Config.NumHiddenLayers;

    [Theory]
    [MemberData(nameof(Families))]
    public void Forward_OutputHiddenStates_LayersPlusOneAndLastIsLastHiddenState(string family)
    {
        using var model = Create(family);
        using var _ = no_grad();
        using var ids = randint(0, 40, [2, 7]);
        using var output = model.call(new CausalLMInput(ids) { OutputHiddenStates = true });
        Assert.Equal(Layers(model) + 1, output.HiddenStates!.Count);
        Assert.All(output.HiddenStates, h => Assert.Equal(new long[] { 2, 7, model.HiddenSize }, h.shape));
        Assert.True(output.HiddenStates[^1].allclose(output.LastHiddenState, 0, 0));
        Assert.False(output.HiddenStates[^1].allclose(output.ResidualState!, 1e-3, 1e-3));            // the residual stream is before the final norm
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Forward_OutputAttentions_RowsSumToOneAndCausal(string family)
    {
        using var model = Create(family);
        using var _ = no_grad();
        using var ids = randint(0, 40, [2, 6]);
        using var output = model.call(new CausalLMInput(ids) { OutputAttentions = true });
        Assert.Equal(Layers(model), output.Attentions!.Count);
        foreach (var a in output.Attentions)
        {
            Assert.Equal(new long[] { 2, 4, 6, 6 }, a.shape);                             // (B, H, T, S)
            Assert.True((a.sum(-1) - 1).abs().max().item<float>() < 1e-5);
            Assert.Equal(0.0, a.triu(1).abs().max().item<float>());                       // no weight on later keys
        }
        using var plain = model.Logits(ids);
        Assert.True(plain.allclose(output.Logits!, 1e-5, 1e-5));                        // explicit attention = the fast path
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Forward_LogitsToKeepOne_EqualsLastRowOfFullLogits(string family)
    {
        using var model = Create(family);
        using var _ = no_grad();
        using var ids = randint(0, 40, [3, 5]);
        using var full = model.Logits(ids);
        using var output = model.call(new CausalLMInput(ids) { LogitsToKeep = 1 });
        Assert.Equal(new long[] { 3, 1, 40 }, output.Logits!.shape);
        Assert.True(output.Logits.select(1, 0).allclose(full.select(1, 4), 1e-6, 1e-6));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Forward_ComputeLogitsFalse_NoLogitsButHidden(string family)
    {
        using var model = Create(family);
        using var ids = randint(0, 40, [1, 4]);
        using var output = model.call(new CausalLMInput(ids) { ComputeLogits = false });
        Assert.Null(output.Logits);
        Assert.Equal(new long[] { 1, 4, model.HiddenSize }, output.LastHiddenState.shape);
    }

    [Fact]
    public void Forward_DeepSeekTrainingWithAuxAlpha_OneBalanceLossPerMoeLayer()
    {
        using var model = (DeepSeekV3ForCausalLM)Create("deepseek", auxAlpha: 0.01);
        using var ids = randint(0, 40, [2, 8]);
        model.train();
        using (var output = model.call(new CausalLMInput(ids)))
        {
            Assert.Equal(model.MoeLayers.Count(), output.AuxiliaryLosses.Count);
            Assert.All(output.AuxiliaryLosses, l => Assert.True(l.dim() == 0 && l.item<float>() > 0));
        }
        model.eval();
        using (var output = model.call(new CausalLMInput(ids))) Assert.Empty(output.AuxiliaryLosses);
    }

    [Fact]
    public void MoeForward_Training_BalanceLossEqualsBalanceLossOfItsRouting()
    {
        manual_seed(5);
        var c = new DeepSeekV3Config { AuxLossAlpha = 0.02 };
        using var moe = new DeepSeekMoe(c);
        moe.train();
        using var x = randn(2, 6, c.HiddenSize);
        var losses = new List<Tensor>();
        using var y = moe.Forward(x, losses);
        using var scores = moe.Gate.Scores(x.reshape(-1, c.HiddenSize));                       // (N, E)
        var (indices, _) = moe.Gate.Route(scores);
        using var expected = moe.BalanceLoss(scores.view(2, 6, -1), indices.view(2, 6, -1));
        Assert.Single(losses);
        Assert.Equal(expected.item<float>(), losses[0].item<float>(), 6);
    }

    [Fact]
    public void Forward_DeepSeekOutputMtp_LogitsShiftedByDepth()
    {
        using var model = Create("deepseek", mtp: 2);
        using var _ = no_grad();
        using var ids = randint(0, 40, [2, 9]);
        using var output = model.call(new CausalLMInput(ids) { OutputMtp = true });
        Assert.Equal(2, output.MtpLogits!.Count);
        Assert.Equal(new long[] { 2, 8, 40 }, output.MtpLogits[0].shape);                // (B, T − 1, V)
        Assert.Equal(new long[] { 2, 7, 40 }, output.MtpLogits[1].shape);                // (B, T − 2, V)
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Forward_ExplicitPositionIds_EqualDerivedOnes(string family)
    {
        using var model = Create(family);
        using var _ = no_grad();
        using var ids = randint(0, 40, [2, 5]);
        using var mask = tensor(new long[] { 0, 1, 1, 1, 1, 1, 1, 1, 1, 1 }).view(2, 5);
        using var derived = model.Logits(ids, null, mask);
        using var positions = tensor(new long[] { 0, 0, 1, 2, 3, 0, 1, 2, 3, 4 }).view(2, 5);
        using var output = model.call(new CausalLMInput(ids) { AttentionMask = mask, PositionIds = positions });
        Assert.True(derived.allclose(output.Logits!, 0, 0));
    }
}

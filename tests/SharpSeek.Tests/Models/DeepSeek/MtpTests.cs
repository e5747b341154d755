using SharpSeek.Models.DeepSeek;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.DeepSeek;

public sealed class MtpTests
{
    private static DeepSeekV3Config Tiny(int depth, double lambda = 0.3) => new()
    {
        VocabSize = 32, HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
        NRoutedExperts = 4, NGroup = 1, TopkGroup = 1, NumExpertsPerTok = 2, KvLoraRank = 16, QLoraRank = null,
        QkNopeHeadDim = 8, QkRopeHeadDim = 4, VHeadDim = 8, MaxPositionEmbeddings = 64, NumNextnPredictLayers = depth, MtpLossWeight = lambda,
    };

    [Fact]
    public void StateDict_TwoMtpModules_UseReleasedCheckpointNames()
    {
        using var model = new DeepSeekV3ForCausalLM(Tiny(2));
        var sd = model.state_dict();
        foreach (int layer in new[] { 2, 3 })
        {
            Assert.Equal(new long[] { 32 }, sd[$"model.layers.{layer}.enorm.weight"].shape);
            Assert.Equal(new long[] { 32 }, sd[$"model.layers.{layer}.hnorm.weight"].shape);
            Assert.Equal(new long[] { 32, 64 }, sd[$"model.layers.{layer}.eh_proj.weight"].shape);
            Assert.Equal(new long[] { 32 }, sd[$"model.layers.{layer}.shared_head.norm.weight"].shape);
            Assert.Contains($"model.layers.{layer}.self_attn.kv_b_proj.weight", sd.Keys);
            Assert.Contains($"model.layers.{layer}.mlp.gate.e_score_correction_bias", sd.Keys);
        }
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("model.layers.4.", StringComparison.Ordinal));
    }

    [Fact]
    public void ComputeLoss_WithMtp_ScalarThatDiffersFromMainCe()
    {
        torch.manual_seed(2);
        using var model = new DeepSeekV3ForCausalLM(Tiny(2));
        using var ids = torch.randint(0, 32, new long[] { 2, 12 });
        using var targets = torch.randint(0, 32, new long[] { 2, 12 });
        using var loss = model.ComputeLoss(ids, targets);
        Assert.Empty(loss.shape);
        using var logits = model.forward(ids);
        Assert.Equal(new long[] { 2, 12, 32 }, logits.shape);
        using var main = nn.functional.cross_entropy(logits.view(-1, 32), targets.view(-1));
        Assert.True(Math.Abs(loss.item<float>() - main.item<float>()) > 1e-4, "MTP terms missing from the loss");
    }

    [Fact]
    public void ComputeLoss_RepeatedSequence_FallsWithin30Steps()
    {
        torch.manual_seed(11);
        using var model = new DeepSeekV3ForCausalLM(Tiny(1));
        model.train();
        var pattern = Enumerable.Range(0, 33).Select(i => (long)(i % 8 * 3 + 1)).ToArray();
        using var ids = torch.tensor(pattern[..32]).view(1, -1).expand(4, -1).contiguous();
        using var targets = torch.tensor(pattern[1..]).view(1, -1).expand(4, -1).contiguous();
        using var opt = torch.optim.Adam(model.parameters(), 3e-3);
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            var loss = model.ComputeLoss(ids, targets);
            loss.backward();
            opt.step();
            model.UpdateRouterBiases(1e-3);
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < 0.5 * first, $"loss {first:F3} → {last:F3} did not halve in 30 steps");
    }
}

using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tests.Training.Objectives;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models;

public class RewardModelTests
{
    private static RewardModel Tiny(string family)
    {
        var model = RewardModel.FromCausalLM(PreferenceTestData.TinyModel(family));
        model.eval();
        return model;
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("deepseek")]
    public void Score_RightAndLeftPaddedRows_ScoreAsTheUnpaddedSequence(string family)
    {
        using var model = Tiny(family);
        using var _ = no_grad();
        manual_seed(2);
        var ids = randint(0, PreferenceTestData.Vocab, [1, 7]);
        float alone = model.Score(ids, ones_like(ids)).item<float>();

        var rightIds = cat([ids, full([1, 3], 5L)], 1);                                    // (1, 10): 3 pad tokens after
        var rightMask = cat([ones([1, 7], ScalarType.Int64), zeros([1, 3], ScalarType.Int64)], 1);
        var leftIds = cat([full([1, 3], 5L), ids], 1);
        var leftMask = cat([zeros([1, 3], ScalarType.Int64), ones([1, 7], ScalarType.Int64)], 1);
        float right = model.Score(rightIds, rightMask).item<float>();
        float left = model.Score(leftIds, leftMask).item<float>();
        Assert.Equal(alone, right, 4);
        Assert.Equal(alone, left, 4);

        // the pad positions are not what is scored: scoring the whole padded row as real gives another value
        Assert.NotEqual(alone, model.Score(rightIds, ones_like(rightIds)).item<float>(), 3);
    }

    [Fact]
    public void LastTokenIndex_MixedPadding_IsPositionOfLastOne()
    {
        var mask = tensor(new long[] { 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1 }, [3, 4]);
        Assert.Equal([1L, 3, 3], RewardModel.LastTokenIndex(mask).data<long>().ToArray());
    }

    [Theory]
    [InlineData("gpt2", "GPT2ForSequenceClassification")]
    [InlineData("deepseek", "DeepseekV3ForSequenceClassification")]
    public void SavePretrained_ThenLoad_GivesTheSameScoresAndTheHfLayout(string family, string architecture)
    {
        using var dir = new TempDir();
        using var model = Tiny(family);
        model.SavePretrained(dir.Path);

        var config = JsonNode.Parse(File.ReadAllText(dir["config.json"]))!.AsObject();
        Assert.Equal(architecture, config["architectures"]![0]!.GetValue<string>());
        Assert.Equal(1, config["num_labels"]!.GetValue<int>());
        Assert.Equal("LABEL_0", config["id2label"]!["0"]!.GetValue<string>());
        using (var f = CheckpointFolder.Open(dir.Path))
            Assert.Equal([1L, model.HiddenSize], f.Info("score.weight").Shape);

        using var loaded = RewardModel.Load(dir.Path);
        manual_seed(3);
        var ids = randint(0, PreferenceTestData.Vocab, [3, 6]);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0 }, [3, 6]);
        using var _ = no_grad();
        var expected = model.Score(ids, mask);
        var actual = loaded.Score(ids, mask);
        Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
        Assert.NotEqual(0f, expected.abs().sum().item<float>());

        using var lm = ModelLoader.Load(dir.Path);                                         // still a complete causal LM
        Assert.True(lm.Logits(ids).allclose(model.Logits(ids)));
    }

    [Fact]
    public void Load_LanguageModelFolder_ThrowsNamingScoreWeight()
    {
        using var dir = new TempDir();
        using (var lm = PreferenceTestData.TinyModel("gpt2")) lm.SavePretrained(dir.Path);
        var e = Assert.Throws<CheckpointException>(() => RewardModel.Load(dir.Path));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("'score.weight'", e.Message);
    }

    [Fact]
    public void Load_ScoreHeadOfWrongShape_ThrowsNamingTheTensor()
    {
        using var dir = new TempDir();
        using (var model = Tiny("gpt2")) model.SavePretrained(dir.Path);
        string path = dir[CheckpointFolder.SingleFile];
        var tensors = new Dictionary<string, Tensor>();
        using (var f = SafeTensorsFile.Open(path)) foreach (var n in f.Tensors.Keys) tensors[n] = f.Load(n);
        tensors["score.weight"] = zeros(2, 32);
        SafeTensors.Save(path, tensors);
        var e = Assert.Throws<CheckpointException>(() => RewardModel.Load(dir.Path));
        Assert.Contains("'score.weight' has shape [2, 32]", e.Message);
    }

    [Fact]
    public void SavePretrained_LoraTrunk_LoadsBackWithAdapters()
    {
        using var dir = new TempDir();
        using var model = RewardModel.FromCausalLM(LoraCausalLM.Attach(PreferenceTestData.TinyModel("gpt2"), new LoraConfig { R = 2, TargetModules = ["c_attn"] }));
        using (no_grad()) foreach (var a in ((LoraCausalLM)model.Trunk).Lora.Adapters.Values) a.B.normal_(0, 0.5);
        model.eval();
        model.SavePretrained(dir.Path);
        Assert.True(File.Exists(dir[LoraAdapters.ConfigFile]));
        using var loaded = RewardModel.Load(dir.Path);
        Assert.IsType<LoraCausalLM>(loaded.Trunk);
        var ids = tensor(new long[] { 3, 4, 5, 6, 7, 8 }, [1, 6]);
        using var _ = no_grad();
        Assert.Equal(model.Score(ids, ones_like(ids)).item<float>(), loaded.Score(ids, ones_like(ids)).item<float>(), 5);
    }

    [Fact]
    public void RewardModelScorer_Rollouts_ScoresAsRewardModelScore()
    {
        using var model = Tiny("deepseek");
        var rollouts = new[]
        {
            new Rollout("p", "r", null, [1, 2, 3, 4, 5], 2),
            new Rollout("p", "r", null, [9, 8, 7], 1),
            new Rollout("p", "r", null, [6, 6, 6, 6, 6, 6, 6], 3),
        };
        var scorer = new RewardModelScorer(model) { BatchSize = 2 };
        var scores = scorer.Score(rollouts);
        using var _ = no_grad();
        for (int i = 0; i < rollouts.Length; i++)
        {
            var ids = tensor(rollouts[i].Ids.Select(x => (long)x).ToArray(), [1, rollouts[i].Ids.Count]);
            Assert.Equal(model.Score(ids, ones_like(ids)).item<float>(), scores[i], 4);
        }
        Assert.Equal("reward_model", scorer.Name);
    }
}

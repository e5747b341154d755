using SharpSeek.Data;
using SharpSeek.Data.Preference;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>The reward-model and DPO objectives on the one training loop, on toy pairs whose chosen answers end in '!'.</summary>
public class PreferenceTrainingTests
{
    private static TrainConfig Config(string outDir, int steps) => new()
    {
        InitFrom = "unused", BatchSize = 8, MaxSteps = steps, Lr = 3e-3, MinLr = 3e-4, WarmupSteps = 2, EvalInterval = steps,
        EvalIters = 2, LogInterval = 1, OutDir = outDir, Threads = 1, Precision = "fp32", GradClip = 1.0, WeightDecay = 0,
    };

    [Theory]
    [InlineData("gpt2")]
    [InlineData("deepseek")]
    public void Run_RewardModelOnToyPairs_RanksHeldOutPairsRight(string family)
    {
        using var dir = new TempDir();
        var tokenizer = PreferenceTestData.Tokenizer(PreferenceTestData.ModelFolder(dir["m"], family));
        var data = PreferenceTestData.ToyBatches(tokenizer, train: 64, val: 40);
        var objective = new RewardModelObjective(data, 8);
        RewardModel? model = null;
        var trainer = new Trainer(Config(dir["out"], 40), objective,
                                  d => model = d is null ? RewardModel.FromCausalLM(PreferenceTestData.TinyModel(family)) : RewardModel.Load(d));
        double before = double.NaN;
        trainer.OnLog = _ => before = double.IsNaN(before) ? objective.HeldOutAccuracy(model!) : before;
        var result = trainer.Run();

        double after = objective.HeldOutAccuracy(model!);
        Assert.True(after >= 0.9, $"held-out pair accuracy {after:P0} (before training {before:P0})");
        Assert.True(result.StepMetrics[40]["accuracy"] >= 0.75);
        using var reloaded = RewardModel.Load(result.Checkpoint!);                           // the checkpoint is a reward-model folder
        Assert.Equal(after, objective.HeldOutAccuracy(reloaded));
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("deepseek")]
    public void Run_DpoOnToyPairs_RaisesChosenOverRejectedLogProbMargin(string family)
    {
        using var dir = new TempDir();
        var tokenizer = PreferenceTestData.Tokenizer(PreferenceTestData.ModelFolder(dir["m"], family));
        var data = PreferenceTestData.ToyBatches(tokenizer, train: 32, val: 16);
        var objective = new DpoObjective(data, 8, PreferenceTestData.TinyModel(family), beta: 0.1);
        CausalLM? policy = null;
        var trainer = new Trainer(Config(dir["out"], 15) with { Lr = 2e-3 }, objective, d => policy = PreferenceTestData.TinyModel(family));
        double before = double.NaN;
        trainer.OnLog = _ => before = double.IsNaN(before) ? Margin(policy!, data) : before;
        trainer.Run();
        double after = Margin(policy!, data);
        Assert.True(after > before + 1.0, $"log π(c) − log π(r) on held-out pairs: {before:F3} before, {after:F3} after");
    }

    /// <summary>Mean over held-out pairs of log π(chosen) − log π(rejected) (completion tokens).</summary>
    private static double Margin(CausalLM policy, PreferenceBatches data)
    {
        bool wasTraining = policy.training;
        policy.eval();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var batch = PreferenceBatch.Collate(data.Pairs(DataSplit.Val));
        var logps = DpoObjective.SequenceLogProbs(policy, batch, out var __);
        double margin = (logps[..batch.Pairs] - logps[batch.Pairs..]).mean().item<float>();
        policy.train(wasTraining);
        return margin;
    }
}

using SharpSeek.Data;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.Models.DeepSeek;
using SharpSeek.Training.Objectives;
using SharpSeek.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

public class LanguageModelObjectiveTests
{
    [Fact]
    public void Run_LanguageModelObjective_StepLossesEqualStaticLossOnTheSameBatches()
    {
        // Through the objective and the trainer, vs the loop the trainer ran before objectives: the static loss on
        // batches drawn directly from the data, with dropout, gradient accumulation, clipping and AdamW.
        var c = TrainingTestData.Config(TrainingTestData.TempDir()) with { MaxSteps = 6, GradAccum = 2, EvalInterval = 100 };
        var result = new Trainer(c, TrainingTestData.Data(), TrainingTestData.Factory()).Run();

        torch.manual_seed(c.Seed);
        var data = TrainingTestData.Data();
        data.Reseed(DataSplit.Train, (ulong)c.Seed);
        var model = TrainingTestData.Factory()(null);
        model.train();
        var groups = ParamGroups.Assign(model, c.DecayEmbeddings);
        var parameters = groups.All.ToList();
        using var optimizer = groups.CreateAdamW(c);
        var expected = new List<double>();
        for (int step = 0; step < c.MaxSteps; step++)
        {
            foreach (var g in optimizer.ParamGroups) g.LearningRate = LrSchedule.For(c, step);
            double sum = 0;
            for (int micro = 0; micro < c.GradAccum; micro++)
            {
                using var scope = NewDisposeScope();
                var (x, y) = data.SampleBatch(DataSplit.Train, c.BatchSize, c.BlockSize);
                var loss = LanguageModelObjective.Loss(model, x, y);
                sum += loss.item<float>();
                (loss / c.GradAccum).backward();
            }
            nn.utils.clip_grad_norm_(parameters, c.GradClip);
            optimizer.step();
            optimizer.zero_grad();
            expected.Add(sum / c.GradAccum);
        }
        Assert.Equal(expected, result.StepLosses.OrderBy(kv => kv.Key).Select(kv => kv.Value));
        Assert.Empty(result.StepMetrics);                                                // a dense model's loss has no parts
    }

    [Fact]
    public void Step_DeepSeekWithMtpAndBalanceLoss_PartsSumToTheStaticLoss()
    {
        var c = TrainingDeepSeekTests.Tiny("") with { AuxLossAlpha = 0.01 };
        torch.manual_seed(5);
        var model = TrainingModels.For(c, TrainingTestData.Data().VocabSize)(null);
        model.train();
        var data = TrainingTestData.Data();
        var objective = new LanguageModelObjective(data, c.BatchSize, c.BlockSize);
        objective.Reseed(DataSplit.Train, 7);
        var step = objective.Step(model, DataSplit.Train, StepMode.Train);

        data.Reseed(DataSplit.Train, 7);
        var (x, y) = data.SampleBatch(DataSplit.Train, c.BatchSize, c.BlockSize);
        double loss = LanguageModelObjective.Loss(model, x, y).item<float>();
        Assert.Equal(loss, step.Loss.item<float>());
        Assert.Equal((long)c.BatchSize * c.BlockSize, step.Tokens);
        Assert.Equal(["aux", "ce", "mtp"], step.Metrics.Keys.Order());
        Assert.True(step.Metrics["mtp"] > 0 && step.Metrics["aux"] > 0, string.Join(", ", step.Metrics));
        Assert.Equal(loss, step.Metrics["ce"] + step.Metrics["mtp"] + step.Metrics["aux"], 5);
    }

    [Fact]
    public void Validate_DataVocabularyLargerThanModel_ThrowsConfigException()
    {
        var objective = new LanguageModelObjective(TrainingTestData.Data(), 2, 8);
        var e = Assert.Throws<ConfigException>(() => objective.Validate(new TinyLM(8, 16)));
        Assert.Contains("vocabulary", e.Message);
    }

    [Fact]
    public void SaveState_RestoredIntoAnotherObjective_SamplesTheSameBatches()
    {
        var a = new LanguageModelObjective(TrainingTestData.Data(), 2, 8);
        var model = new TinyLM(32, 16);
        model.train();
        a.Step(model, DataSplit.Train, StepMode.Train);
        var b = new LanguageModelObjective(TrainingTestData.Data(seed: 99), 2, 8);
        b.RestoreState(a.SaveState());
        torch.manual_seed(1);
        float la = a.Step(model, DataSplit.Train, StepMode.Train).Loss.item<float>();
        torch.manual_seed(1);
        float lb = b.Step(model, DataSplit.Train, StepMode.Train).Loss.item<float>();
        Assert.Equal(la, lb);
    }

    private static double Ce(Tensor logits, Tensor targets) =>
        nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1)).item<float>();

    [Fact]
    public void Loss_Gpt2Fp32_EqualsCrossEntropyOfLogits()
    {
        manual_seed(21);
        using var model = new Gpt2LMHeadModel(new Gpt2Config { VocabSize = 50, NPositions = 16, NEmbd = 32, NLayer = 2, NHead = 4 });
        using var ids = randint(0, 50, [2, 10]);
        using var targets = randint(0, 50, [2, 10]);
        using var loss = LanguageModelObjective.Loss(model, ids, targets);
        using var logits = model.Logits(ids);
        Assert.Equal(Ce(logits, targets), loss.item<float>(), 5);
    }

    [Fact]
    public void Loss_Gpt2Bf16TiedHead_IsTheFusedHeadAndCrossEntropy()
    {
        manual_seed(22);
        using var model = new Gpt2LMHeadModel(new Gpt2Config { VocabSize = 50, NPositions = 16, NEmbd = 32, NLayer = 2, NHead = 4 });
        model.ComputeDType = ScalarType.BFloat16;
        using var ids = randint(0, 50, [2, 10]);
        using var targets = randint(0, 50, [2, 10]);
        using var loss = LanguageModelObjective.Loss(model, ids, targets);
        using var output = model.call(new CausalLMInput(ids) { ComputeLogits = false });
        using var h = output.LastHiddenState.reshape(-1, 32);                                     // (B·T, C)
        using var fused = LanguageModelLoss.LinearCrossEntropy(h, model.OutputHead.Weight, targets.reshape(-1), ScalarType.BFloat16);
        Assert.Equal(fused.item<float>(), loss.item<float>());
    }

    [Fact]
    public void Loss_DeepSeekWithTwoMtpDepths_IsMainPlusLambdaOverDTimesSumOfShiftedCes()
    {
        manual_seed(23);
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { VocabSize = 40, NumNextnPredictLayers = 2, MtpLossWeight = 0.3 });
        model.eval();
        using var ids = randint(0, 40, [2, 9]);
        using var targets = randint(0, 40, [2, 9]);
        using var loss = LanguageModelObjective.Loss(model, ids, targets);
        using var output = model.call(new CausalLMInput(ids) { OutputMtp = true });
        double main = Ce(output.Logits!, targets);
        double ce1 = Ce(output.MtpLogits![0], targets.narrow(1, 1, 8));                           // depth 1 predicts targets[i + 1]
        double ce2 = Ce(output.MtpLogits[1], targets.narrow(1, 2, 7));                            // depth 2 predicts targets[i + 2]
        Assert.Equal(main + 0.3 / 2 * (ce1 + ce2), loss.item<float>(), 5);
        Assert.NotEqual(main, loss.item<float>(), 3);
    }

    [Fact]
    public void Loss_DeepSeekTrainingWithBalanceAlpha_AddsTheOutputsAuxiliaryLosses()
    {
        manual_seed(24);
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { VocabSize = 40, AuxLossAlpha = 0.05, NumNextnPredictLayers = 0 });
        model.train();
        using var ids = randint(0, 40, [2, 8]);
        using var targets = randint(0, 40, [2, 8]);
        using var loss = LanguageModelObjective.Loss(model, ids, targets);
        using var output = model.call(new CausalLMInput(ids));
        double aux = output.AuxiliaryLosses.Sum(l => (double)l.item<float>());
        Assert.True(aux > 0);
        Assert.Equal(Ce(output.Logits!, targets) + aux, loss.item<float>(), 5);
    }

    [Fact]
    public void MainHeadCrossEntropy_DeepSeekWithMtp_IgnoresMtpTerm()
    {
        manual_seed(25);
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { VocabSize = 40, NumNextnPredictLayers = 1 });
        model.eval();
        using var ids = randint(0, 40, [1, 6]);
        using var targets = randint(0, 40, [1, 6]);
        using var main = LanguageModelObjective.MainHeadCrossEntropy(model, ids, targets);
        using var logits = model.Logits(ids);
        Assert.Equal(Ce(logits, targets), main.item<float>(), 5);
    }
}

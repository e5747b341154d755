using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training;

public class LanguageModelObjectiveTests
{
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

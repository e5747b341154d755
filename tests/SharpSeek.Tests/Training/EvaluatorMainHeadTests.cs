using SharpSeek.Models;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;
using SharpSeek.Data;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Tests.Models.DeepSeek;

namespace SharpSeek.Tests.Training;

public class EvaluatorMainHeadTests
{
    [Fact]
    public void Estimate_LanguageModelObjectiveOnDeepSeekWithMtp_ReportsMainHeadCrossEntropyOnly()
    {
        string json = ModelFactory.ResolveConfigJson("deepseek", "tiny", new Dictionary<string, System.Text.Json.Nodes.JsonNode?> { ["vocab_size"] = 64 });
        var model = ModelFactory.Create(json, seed: 2);
        var tokens = Enumerable.Range(0, 400).Select(i => (i * 7 + i / 5) % 64).ToArray();
        var data = new TokenArrayBatchSource(tokens, tokens, 64, seed: 3);
        var eval = ObjectiveEvaluation.Estimate(new LanguageModelObjective(data, batchSize: 2, blockSize: 16), model, DataSplit.Val, iters: 2, seed: 3);

        // The same batches, scored by the main head alone, by the training objective, and by CE_main + λ/D·Σ_k CE_k by hand.
        data.Reseed(DataSplit.Val, 3);
        var deepSeek = (DeepSeekV3ForCausalLM)model;
        double main = 0, objective = 0, byHand = 0;
        using (torch.no_grad())
        {
            model.eval();
            for (int i = 0; i < 2; i++)
            {
                var (x, y) = data.SampleBatch(DataSplit.Val, 2, 16);
                var logits = ((CausalLM)model).Logits(x);
                main += nn.functional.cross_entropy(logits.view(-1, 64), y.view(-1)).item<float>() / 2;
                objective += LanguageModelObjective.Loss(model, x, y).item<float>() / 2;
                var (ceMain, depths) = DeepSeekObjective.CrossEntropiesByHand(deepSeek, x, y);
                byHand += (ceMain + deepSeek.Config.MtpLossWeight / depths.Length * depths.Sum()) / 2;
            }
        }
        Assert.Equal(main, eval.Loss, 4);
        Assert.True(deepSeek.Config.NumNextnPredictLayers > 0 && deepSeek.Config.MtpLossWeight > 0, "the preset has no MTP term to leave out");
        Assert.Equal(byHand, objective, 5);                                              // the objective includes the MTP terms …
        Assert.True(objective - main > 1e-3, $"the MTP terms add only {objective - main}");   // … which are not negligible here
    }
}

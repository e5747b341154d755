using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Evaluation;

/// <summary>
/// Whole-split evaluation of a language model (the <c>eval</c> verb): every token scored once. Evaluation uses the
/// objectives' maths (<see cref="LanguageModelObjective"/>); the trainer's periodic evaluation goes through its objective
/// (<see cref="ObjectiveEvaluation"/>), so Training never depends on Evaluation.
/// </summary>
public static class Evaluator
{
    /// <summary>
    /// Mean loss over all of <paramref name="tokens"/>: consecutive non-overlapping windows of <paramref name="blockSize"/>
    /// (the last one shorter), each predicting its next tokens. Every token after the first is predicted exactly once.
    /// </summary>
    public static EvalResult Sequential(CausalLM model, IReadOnlyList<int> tokens, int blockSize, int batchSize)
    {
        if (tokens.Count < 2) throw new DataException($"the text has {tokens.Count} token(s); at least 2 are needed to measure a next-token loss");
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            double sum = 0;
            long count = 0;
            var starts = new List<int>();
            for (int s = 0; s < tokens.Count - 1; s += blockSize) starts.Add(s);
            foreach (var chunk in starts.Chunk(batchSize))
            {
                // rows of equal length batch together; the last, shorter window runs alone
                foreach (var group in chunk.GroupBy(s => Math.Min(blockSize, tokens.Count - 1 - s)))
                {
                    using var scope = NewDisposeScope();
                    int t = group.Key, b = group.Count();
                    var x = new long[b * t];
                    var y = new long[b * t];
                    int row = 0;
                    foreach (var s in group)
                    {
                        for (int i = 0; i < t; i++) { x[row * t + i] = tokens[s + i]; y[row * t + i] = tokens[s + i + 1]; }
                        row++;
                    }
                    double loss = LanguageModelObjective.MainHeadCrossEntropy(model, tensor(x, [b, t]), tensor(y, [b, t])).item<float>();   // (b, t)
                    sum += loss * b * t;
                    count += b * t;
                }
            }
            return new EvalResult(sum / count, count);
        }
        finally { model.train(wasTraining); }
    }
}

using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;
using SharpSeek.Data;

namespace SharpSeek.Evaluation;

/// <summary>Mean next-token loss and perplexity (exp of the mean loss), as nanoGPT's <c>estimate_loss</c>.</summary>
public sealed record EvalResult(double Loss, long Tokens)
{
    /// <summary>Batches evaluated by <see cref="Evaluator.EstimateLoss"/> (fewer than asked when it was stopped early).</summary>
    public int Batches { get; init; }

    public double Perplexity => Math.Exp(Loss);
}

/// <summary>Validation loss of a language model: on random batches during training, or over every window of a text.</summary>
public static class Evaluator
{
    /// <summary>
    /// Mean loss over <paramref name="iters"/> batches of <paramref name="split"/>, drawn from a stream restarted at
    /// <paramref name="seed"/> (the same batches at every call, so evaluations compare like with like).
    /// <paramref name="stopEarly"/> (e.g. a deadline passed) is asked before each batch after the first; when it says
    /// yes, the mean is over the batches done (<see cref="EvalResult.Batches"/>).
    /// </summary>
    public static EvalResult EstimateLoss(nn.Module model, IBatchSource data, DataSplit split, int iters, int batchSize, int blockSize, ulong seed,
                                          Func<bool>? stopEarly = null)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            data.Reseed(split, seed);
            double sum = 0;
            int done = 0;
            for (int i = 0; i < iters; i++)
            {
                if (i > 0 && stopEarly is not null && stopEarly()) break;
                using var scope = NewDisposeScope();
                var (x, y) = data.SampleBatch(split, batchSize, blockSize);
                sum += LanguageModelLoss.NextTokenCrossEntropy(model, x, y).item<float>();
                done++;
            }
            return new EvalResult(sum / done, (long)done * batchSize * blockSize) { Batches = done };
        }
        finally { model.train(wasTraining); }
    }

    /// <summary>
    /// Mean loss over all of <paramref name="tokens"/>: consecutive non-overlapping windows of <paramref name="blockSize"/>
    /// (the last one shorter), each predicting its next tokens. Every token after the first is predicted exactly once.
    /// </summary>
    public static EvalResult Sequential(nn.Module model, IReadOnlyList<int> tokens, int blockSize, int batchSize)
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
                    double loss = LanguageModelLoss.NextTokenCrossEntropy(model, tensor(x, [b, t]), tensor(y, [b, t])).item<float>();   // (b, t)
                    sum += loss * b * t;
                    count += b * t;
                }
            }
            return new EvalResult(sum / count, count);
        }
        finally { model.train(wasTraining); }
    }
}

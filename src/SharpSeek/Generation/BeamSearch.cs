using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Generation;

/// <summary>
/// Beam search with length penalty and early stopping, as Hugging Face <c>BeamSearchScorer</c>/<c>BeamHypotheses</c>
/// (transformers generation/beam_search.py): K beams per prompt, 2K candidates per step, EOS candidates ranked below K
/// become hypotheses scored sum log-prob / generated_length^length_penalty (EOS counted).
/// </summary>
internal static class BeamSearch
{
    public static IReadOnlyList<GenerationResult> Run(CausalLM model, ITextTokenizer tokenizer,
        IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options)
    {
        int k = options.NumBeams, p = prompts.Count, rows = p * k;
        var eos = GenerationSetup.EosIds(options, tokenizer);
        bool restoreTraining = model.training;
        model.eval();
        var rowPrompts = prompts.SelectMany(x => Enumerable.Repeat(x, k)).ToList();
        int capacity = rowPrompts.Max(r => r.Count) + options.MaxNewTokens;
        using var batch = new PaddedBatch(rowPrompts, capacity, model.Device);
        using var cache = options.UseCache ? model.CreateKvCache(rows, capacity) : null;
        var pipeline = LogitsProcessorPipeline.For(options, batch.RowStarts, GenerationSetup.VocabularyLimit(model, tokenizer));
        var hyps = Enumerable.Range(0, p).Select(_ => new Hypotheses(k, options.LengthPenalty, options.EarlyStopping)).ToArray();
        var done = new bool[p];
        var generated = Enumerable.Range(0, rows).Select(_ => new List<int>()).ToArray();
        var beamScores = new double[rows];
        for (int r = 0; r < rows; r++) beamScores[r] = r % k == 0 ? 0 : -1e9;   // only the first beam is live at the start
        int candidates = Math.Max(2, 1 + eos.Count) * k;

        try
        {
            using var noGrad = torch.no_grad();
            Tensor? logits = null;
            try
            {
                using (var scope = torch.NewDisposeScope())
                    logits = DecodeLoop.NextLogits(model, batch.Current, cache, batch.CurrentMask).DetachFromDisposeScope();
                for (int step = 1; step <= options.MaxNewTokens; step++)
                {
                    using var scope = torch.NewDisposeScope();
                    var logProbs = logits.to(ScalarType.Float32).log_softmax(-1);                          // (R, V)
                    if (!pipeline.IsEmpty) logProbs = pipeline.Process(batch.Current, logProbs);
                    var scores = logProbs + torch.tensor(beamScores, device: model.Device).to(ScalarType.Float32).view(-1, 1);
                    long vocab = scores.shape[1];
                    var (top, topIndex) = scores.view(p, k * vocab).topk((int)Math.Min(candidates, k * vocab), dim: 1);  // (P, 2K)
                    float[] topScores;
                    long[] topIds;
                    using (var hs = top.cpu()) topScores = hs.data<float>().ToArray();
                    using (var hi = topIndex.cpu()) topIds = hi.data<long>().ToArray();
                    int width = (int)top.shape[1];

                    var nextRow = new int[rows];
                    var nextToken = new long[rows];
                    var nextScore = new double[rows];
                    for (int b = 0; b < p; b++)
                    {
                        if (done[b]) { for (int j = 0; j < k; j++) nextRow[b * k + j] = b * k + j; continue; }
                        int beam = 0;
                        for (int rank = 0; rank < width && beam < k; rank++)
                        {
                            long flat = topIds[b * width + rank];
                            int row = b * k + (int)(flat / vocab), token = (int)(flat % vocab);
                            double score = topScores[b * width + rank];
                            if (eos.Contains(token))
                            {
                                if (rank >= k) continue;
                                hyps[b].Add(generated[row].ToArray(), score, step, FinishReason.EndOfSequence);
                            }
                            else
                            {
                                nextRow[b * k + beam] = row;
                                nextToken[b * k + beam] = token;
                                nextScore[b * k + beam] = score;
                                beam++;
                            }
                        }
                        double best = topScores.Skip(b * width).Take(width).Max();
                        done[b] = hyps[b].IsDone(best, step);
                    }

                    generated = Enumerable.Range(0, rows).Select(i => new List<int>(generated[nextRow[i]])).ToArray();
                    for (int i = 0; i < rows; i++) if (!done[i / k]) generated[i].Add((int)nextToken[i]);
                    beamScores = nextScore;
                    if (done.All(d => d) || step == options.MaxNewTokens) break;

                    var index = torch.tensor(nextRow.Select(i => (long)i).ToArray(), device: model.Device);
                    var next = torch.tensor(nextToken, device: model.Device);
                    cache?.Reorder(index);
                    batch.Reorder(index, nextRow);
                    pipeline.ReorderRows(nextRow);
                    batch.Append(next);
                    var input = cache is null ? batch.Current : next.view(-1, 1);
                    var newLogits = DecodeLoop.NextLogits(model, input, cache, batch.CurrentMask);
                    logits.Dispose();
                    logits = newLogits.DetachFromDisposeScope();
                }
            }
            finally { logits?.Dispose(); }
        }
        finally { if (restoreTraining) model.train(); }

        var results = new List<GenerationResult>();
        for (int b = 0; b < p; b++)
        {
            if (!done[b])
                for (int j = 0; j < k; j++)
                {
                    var tokens = generated[b * k + j];
                    hyps[b].Add(tokens.ToArray(), beamScores[b * k + j], tokens.Count, FinishReason.Length);
                }
            foreach (var h in hyps[b].Best(options.NumReturnSequences))
                results.Add(Result(b, h, tokenizer, options.StopStrings));
        }
        return results;
    }

    private static GenerationResult Result(int prompt, Hypothesis h, ITextTokenizer tokenizer, IReadOnlyList<string>? stops)
    {
        string text = tokenizer.Decode(h.Tokens);
        var reason = h.Reason;
        if (stops is { Count: > 0 })
        {
            var filter = new StopStringFilter(stops);
            string kept = filter.Push(text);
            if (filter.Stopped) { text = kept; reason = FinishReason.StopString; }
        }
        return new GenerationResult(prompt, h.Tokens, text, reason, h.Score);
    }

    private sealed record Hypothesis(int[] Tokens, double Score, FinishReason Reason);

    /// <summary>The best <c>num_beams</c> finished sequences of one prompt (Hugging Face <c>BeamHypotheses</c>).</summary>
    private sealed class Hypotheses(int numBeams, double lengthPenalty, bool earlyStopping)
    {
        private readonly List<Hypothesis> _beams = new();
        private double _worst = 1e9;

        public void Add(int[] tokens, double sumLogProbs, int generatedLength, FinishReason reason)
        {
            double score = sumLogProbs / Math.Pow(generatedLength, lengthPenalty);
            if (_beams.Count >= numBeams && score <= _worst) return;
            _beams.Add(new Hypothesis(tokens, score, reason));
            if (_beams.Count > numBeams)
            {
                _beams.Remove(_beams.MinBy(h => h.Score)!);
                _worst = _beams.Min(h => h.Score);
            }
            else _worst = Math.Min(score, _worst);
        }

        /// <summary>Whether no running beam can beat the finished ones (or, with early stopping, enough are finished).</summary>
        public bool IsDone(double bestSumLogProbs, int generatedLength)
        {
            if (_beams.Count < numBeams) return false;
            if (earlyStopping) return true;
            return _worst >= bestSumLogProbs / Math.Pow(generatedLength, lengthPenalty);
        }

        public IEnumerable<Hypothesis> Best(int n) => _beams.OrderByDescending(h => h.Score).Take(n);
    }
}

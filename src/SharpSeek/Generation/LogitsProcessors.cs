using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Generation;

/// <summary>One step of the next-token score pipeline, as Hugging Face <c>LogitsProcessor</c> (transformers generation/logits_process.py).</summary>
public interface ILogitsProcessor
{
    /// <summary>Returns new scores (B, V) from <paramref name="logits"/> (B, V) given the rows so far <paramref name="inputIds"/> (B, T); the input is not modified.</summary>
    Tensor Process(Tensor inputIds, Tensor logits);
}

/// <summary>A processor with per-row state kept across steps; the engine tells it when rows are reordered (beam search, finished rows dropped).</summary>
public interface IRowStatefulLogitsProcessor : ILogitsProcessor
{
    /// <summary>Row i becomes old row <paramref name="rowIndices"/>[i].</summary>
    void ReorderRows(IReadOnlyList<int> rowIndices);
}

/// <summary>Processors applied in order (Hugging Face <c>LogitsProcessorList</c>). An empty pipeline returns the logits unchanged.</summary>
public sealed class LogitsProcessorPipeline : ILogitsProcessor
{
    private readonly ILogitsProcessor[] _processors;

    public LogitsProcessorPipeline(IEnumerable<ILogitsProcessor> processors) { _processors = processors.ToArray(); }

    public IReadOnlyList<ILogitsProcessor> Processors => _processors;

    public bool IsEmpty => _processors.Length == 0;

    /// <summary>
    /// The pipeline for <paramref name="options"/> in Hugging Face order (after <see cref="VocabularyLimitProcessor"/> when
    /// <paramref name="vocabularyLimit"/> is given): repetition penalty, presence/frequency penalties, no-repeat n-gram, then (sampling only)
    /// temperature, top-k, top-p, min-p. Processors that are off are left out. <paramref name="rowStarts"/>: first real (unpadded) column per row.
    /// </summary>
    public static LogitsProcessorPipeline For(GenerationOptions options, IReadOnlyList<int>? rowStarts = null, int? vocabularyLimit = null)
    {
        var list = new List<ILogitsProcessor>();
        if (vocabularyLimit is int limit) list.Add(new VocabularyLimitProcessor(limit));
        if (options.RepetitionPenalty != 1.0) list.Add(new RepetitionPenaltyProcessor(options.RepetitionPenalty));
        if (options.PresencePenalty != 0 || options.FrequencyPenalty != 0)
            list.Add(new PresenceFrequencyPenaltyProcessor(options.PresencePenalty, options.FrequencyPenalty));
        if (options.NoRepeatNgramSize > 0) list.Add(new NoRepeatNGramProcessor(options.NoRepeatNgramSize, rowStarts));
        if (!options.IsGreedy && options.NumBeams == 1)
        {
            if (options.Temperature != 1.0) list.Add(new TemperatureProcessor(options.Temperature));
            if (options.TopK > 0) list.Add(new TopKProcessor(options.TopK));
            if (options.TopP < 1.0) list.Add(new TopPProcessor(options.TopP));
            if (options.MinP > 0) list.Add(new MinPProcessor(options.MinP));
        }
        return new LogitsProcessorPipeline(list);
    }

    public Tensor Process(Tensor inputIds, Tensor logits)
    {
        if (_processors.Length == 0) return logits.alias();
        using var scope = torch.NewDisposeScope();
        var scores = logits;
        foreach (var p in _processors) scores = p.Process(inputIds, scores);
        return scores.MoveToOuterDisposeScope();
    }

    /// <summary>Forwards a row reorder to every stateful processor.</summary>
    public void ReorderRows(IReadOnlyList<int> rowIndices)
    {
        foreach (var p in _processors) if (p is IRowStatefulLogitsProcessor s) s.ReorderRows(rowIndices);
    }
}

/// <summary>
/// Never picks ids ≥ <paramref name="limit"/>: a model's vocabulary is often padded past its tokenizer's (nanoGPT rounds
/// 50257 up to 50304, char models to a multiple of 64), and those ids have no text.
/// </summary>
public sealed class VocabularyLimitProcessor(int limit) : ILogitsProcessor
{
    public Tensor Process(Tensor inputIds, Tensor logits) =>
        limit >= logits.shape[^1] ? logits : logits.index_fill(-1, torch.arange(limit, logits.shape[^1], device: logits.device), double.NegativeInfinity);
}

/// <summary>Divides logits by the temperature (Hugging Face <c>TemperatureLogitsWarper</c>); T &lt; 1 sharpens, T &gt; 1 flattens.</summary>
public sealed class TemperatureProcessor(double temperature) : ILogitsProcessor
{
    public Tensor Process(Tensor inputIds, Tensor logits) => logits / temperature;
}

/// <summary>Keeps the k highest logits (and ties with the k-th), sets the rest to −∞ (Hugging Face <c>TopKLogitsWarper</c>). Fan et al. 2018.</summary>
public sealed class TopKProcessor(int k) : ILogitsProcessor
{
    public Tensor Process(Tensor inputIds, Tensor logits)                        // logits: (B, V)
    {
        using var scope = torch.NewDisposeScope();
        int kk = (int)Math.Min(Math.Max(k, 1), logits.shape[^1]);
        var kth = logits.topk(kk, dim: -1).values.narrow(-1, kk - 1, 1);          // (B, 1)
        return logits.masked_fill(logits < kth, double.NegativeInfinity).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Nucleus filtering (Holtzman et al. 2019, Hugging Face <c>TopPLogitsWarper</c>): keeps the smallest set of most likely tokens whose
/// cumulative probability is ≥ p (a token stays iff the mass of the tokens ranked above it is &lt; p, so the top token always
/// stays); the rest get −∞. After top-k only the finite logits are ranked (partial sort) instead of the whole vocabulary.
/// </summary>
public sealed class TopPProcessor(double p) : ILogitsProcessor
{
    public Tensor Process(Tensor inputIds, Tensor logits)                        // logits: (B, V)
    {
        using var scope = torch.NewDisposeScope();
        long vocab = logits.shape[^1];
        long finite = logits.isfinite().sum(-1).max().item<long>();              // most candidates in any row
        var (ranked, order) = finite * 4 <= vocab
            ? logits.topk((int)Math.Max(finite, 1), dim: -1)                     // (B, F), descending
            : logits.sort(-1, descending: true);                                 // (B, V), descending
        var probs = ranked.softmax(-1);
        var massAbove = probs.cumsum(-1) - probs;                                 // probability of better-ranked tokens
        var kept = ranked.masked_fill(massAbove >= p, double.NegativeInfinity);
        var result = torch.full_like(logits, double.NegativeInfinity).scatter(-1, order, kept);
        return result.MoveToOuterDisposeScope();
    }
}

/// <summary>Min-p filtering (Nguyen et al. 2024, Hugging Face <c>MinPLogitsWarper</c>): drops tokens with probability &lt; min_p × top probability; keeps the top token.</summary>
public sealed class MinPProcessor(double minP) : ILogitsProcessor
{
    public Tensor Process(Tensor inputIds, Tensor logits)                        // logits: (B, V)
    {
        using var scope = torch.NewDisposeScope();
        var probs = logits.softmax(-1);
        var threshold = probs.amax([-1L], keepdim: true) * minP;                  // (B, 1)
        var remove = probs < threshold;                                         // never true for the top token
        return logits.masked_fill(remove, double.NegativeInfinity).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// CTRL repetition penalty (Keskar et al. 2019, Hugging Face <c>RepetitionPenaltyLogitsProcessor</c>): for every token already in the row,
/// a positive logit is divided by the penalty and a negative one multiplied by it.
/// </summary>
public sealed class RepetitionPenaltyProcessor(double penalty) : ILogitsProcessor
{
    public Tensor Process(Tensor inputIds, Tensor logits)                        // inputIds: (B, T), logits: (B, V)
    {
        using var scope = torch.NewDisposeScope();
        var seen = logits.gather(1, inputIds);                                   // (B, T)
        var penalised = torch.where(seen < 0, seen * penalty, seen / penalty);
        return logits.scatter(1, inputIds, penalised).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// OpenAI's presence and frequency penalties (as vLLM applies them): logits[v] −= frequency × count(v) + presence × [count(v) &gt; 0],
/// counting the tokens generated so far (the prompt is not penalised). The first call sees the prompt: its width marks where
/// generated columns begin, so one instance serves one generation.
/// </summary>
public sealed class PresenceFrequencyPenaltyProcessor(double presence, double frequency) : ILogitsProcessor
{
    private long _promptColumns = -1;

    public Tensor Process(Tensor inputIds, Tensor logits)                        // inputIds: (B, T), logits: (B, V)
    {
        if (_promptColumns < 0) _promptColumns = inputIds.shape[1];
        long generated = inputIds.shape[1] - _promptColumns;
        if (generated <= 0) return logits.alias();
        using var scope = torch.NewDisposeScope();
        var ids = inputIds.narrow(1, _promptColumns, generated);                 // (B, G)
        var counts = torch.zeros_like(logits).scatter_add(1, ids, torch.ones(ids.shape, logits.dtype, logits.device));   // (B, V)
        var penalty = counts * frequency + counts.gt(0).to(logits.dtype) * presence;                                    // (B, V)
        return (logits - penalty).MoveToOuterDisposeScope();
    }
}

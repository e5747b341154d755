using SharpSeek.Data;
using SharpSeek.Generation;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using TorchSharp;
using static TorchSharp.torch;
using static SharpSeek.Training.Objectives.PolicyGradientMath;

namespace SharpSeek.Training.Objectives;

/// <summary>One prompt as the policy sees it: token ids, rendered text, expected answer and task (for rule-based rewards).</summary>
internal sealed record EncodedPrompt(IReadOnlyList<int> Ids, string Text, string? Answer, string? Task);

/// <summary>
/// What the RL objectives (<see cref="PpoObjective"/>, <see cref="GrpoObjective"/>) share: sampling rollouts with the generation
/// engine, scoring packed responses under a model in memory-bounded chunks, the exact KL of evaluation, and the seeded
/// shuffles of prompts and minibatches.
/// </summary>
public static class RolloutSampling
{
    /// <summary>
    /// Samples <c>options.num_return_sequences</c> responses per prompt in one batched, KV-cached generator call (grouped by prompt,
    /// in order). A response that ended on <paramref name="stopId"/> carries that id at its end (the policy chose it); returns the
    /// rollouts and each one's finish reason.
    /// </summary>
    internal static (IReadOnlyList<Rollout> Rollouts, IReadOnlyList<FinishReason> Finish) Generate(CausalLM policy, ITextTokenizer tokenizer,
        IReadOnlyList<EncodedPrompt> prompts, GenerationOptions options, int? stopId)
    {
        var results = new SharpSeek.Generation.Generator(policy, tokenizer).Generate(prompts.Select(p => p.Ids).ToList(), options);
        var rollouts = new List<Rollout>(results.Count);
        var finish = new List<FinishReason>(results.Count);
        foreach (var r in results)
        {
            var p = prompts[r.PromptIndex];
            var ids = p.Ids.Concat(r.TokenIds).ToList();
            if (r.FinishReason == FinishReason.EndOfSequence && stopId is int s) ids.Add(s);
            rollouts.Add(new Rollout(p.Text, r.Text, p.Answer, ids, p.Ids.Count) { Task = p.Task });
            finish.Add(r.FinishReason);
        }
        return (rollouts, finish);
    }

    /// <summary>Logit elements (rows × R × V) one scoring forward may produce: 16 M floats, 64 MB.</summary>
    private const long MaxLogitsPerForward = 1L << 24;

    /// <summary>Rows per scoring forward: the whole buffer when its response logits fit <see cref="MaxLogitsPerForward"/>, else fewer.</summary>
    private static long ChunkRows(PackedRollouts packed, CausalLM model) =>
        Math.Clamp(MaxLogitsPerForward / ((long)packed.ResponseWidth * model.VocabSize), 1, packed.Ids.shape[0]);

    private static PackedRollouts Rows(PackedRollouts packed, long start, long len) =>
        new(packed.Ids.narrow(0, start, len), packed.AttentionMask.narrow(0, start, len), packed.ResponseMask.narrow(0, start, len), packed.PromptWidth);

    /// <summary>
    /// Token log-probabilities (N, R) of the responses under <paramref name="model"/> and, with <paramref name="withValues"/>,
    /// the value head's values (N, R): one forward over the buffer, or chunks when its logits would be large (the caller
    /// holds no_grad and eval mode).
    /// </summary>
    public static (Tensor LogProbs, Tensor? Values) ScoreResponses(CausalLM model, PackedRollouts packed, bool withValues)
    {
        long n = packed.Ids.shape[0], rows = ChunkRows(packed, model);
        var logps = new List<Tensor>();
        var values = new List<Tensor>();
        for (long start = 0; start < n; start += rows)
        {
            var chunk = Rows(packed, start, Math.Min(rows, n - start));
            var (logits, v) = PpoObjective.ResponseForward(model, chunk, withValues);
            logps.Add(TokenLogProbs(logits, chunk.ResponseIds));
            if (v is not null) values.Add(v);
        }
        return (cat(logps, 0), withValues ? cat(values, 0) : null);
    }

    /// <summary>
    /// Σ over rows and response positions of the exact KL(π(·|s_t) ‖ π_ref(·|s_t)) over the vocabulary (greedy evaluation
    /// responses are no samples of π, so a sampled estimate would not estimate the KL), and the number of response tokens.
    /// </summary>
    public static (double Sum, double Tokens) ExactKl(CausalLM policy, CausalLM reference, PackedRollouts packed)
    {
        long n = packed.Ids.shape[0], rows = ChunkRows(packed, policy);
        double sum = 0;
        for (long start = 0; start < n; start += rows)
        {
            using var scope = NewDisposeScope();
            var chunk = Rows(packed, start, Math.Min(rows, n - start));
            var logp = PpoObjective.ResponseForward(policy, chunk, withValues: false).Logits.log_softmax(-1);          // (N, R, V)
            var refLogp = PpoObjective.ResponseForward(reference, chunk, withValues: false).Logits.log_softmax(-1);
            var kl = (logp.exp() * (logp - refLogp)).sum(-1);                                                        // (N, R)
            sum += (kl * chunk.ResponseMask).sum().item<float>();
        }
        return (sum, packed.ResponseMask.sum().item<float>());
    }

    /// <summary>
    /// The sampling seed of rollout batch <paramref name="rolloutBatch"/> for the rank whose prompts start at
    /// <paramref name="firstPrompt"/> of the global batch: seed + 1000003·batch on one process (first prompt 0), a distinct
    /// seed per share of the batch under data parallelism.
    /// </summary>
    public static long RolloutSeed(ulong seed, long rolloutBatch, int firstPrompt) =>
        (long)((seed + 1_000_003UL * (ulong)rolloutBatch + 0xBF58476D1CE4E5B9UL * (ulong)firstPrompt) & long.MaxValue);

    /// <summary>A seeded permutation of 0..n−1 (Fisher–Yates).</summary>
    public static int[] Shuffled(int n, SplitMix64 rng)
    {
        var a = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)rng.NextLong(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
        return a;
    }

    /// <summary>
    /// Row indices of every minibatch of <paramref name="epochs"/> passes over <paramref name="n"/> rollouts: each pass a fresh
    /// permutation cut into consecutive minibatches of <paramref name="miniBatchSize"/> (the last may be smaller).
    /// </summary>
    public static IReadOnlyList<long[]> MinibatchSchedule(int n, int miniBatchSize, int epochs, SplitMix64 rng)
    {
        var schedule = new List<long[]>();
        for (int e = 0; e < epochs; e++)
        {
            var order = Shuffled(n, rng);
            for (int start = 0; start < n; start += miniBatchSize)
                schedule.Add(order.Skip(start).Take(miniBatchSize).Select(i => (long)i).ToArray());
        }
        return schedule;
    }
}

/// <summary>A stream over <c>count</c> prompts: each pass in a fresh order, seeded by (seed, pass); a pure function of the position.</summary>
internal sealed class PromptOrder(int count)
{
    private int[]? _order;
    private long _orderEpoch = -1;
    private ulong _orderSeed;

    /// <summary>The prompt at stream <paramref name="position"/> for <paramref name="seed"/>.</summary>
    public int At(long position, ulong seed)
    {
        long epoch = position / count;
        if (_orderEpoch != epoch || _orderSeed != seed)
        {
            _order = RolloutSampling.Shuffled(count, new SplitMix64(seed + 0xD1B54A32D192ED03UL * (ulong)(epoch + 1)));
            _orderEpoch = epoch;
            _orderSeed = seed;
        }
        return _order![(int)(position % count)];
    }
}

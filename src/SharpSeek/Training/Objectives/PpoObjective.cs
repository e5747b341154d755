using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SharpSeek.Data;
using SharpSeek.Data.Prompts;
using SharpSeek.Data.Tasks;
using SharpSeek.Distributed;
using SharpSeek.Generation;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using TorchSharp;
using static TorchSharp.torch;
using static SharpSeek.Training.Objectives.PolicyGradientMath;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// Prompt and response tokens of a batch of rollouts as one padded batch: <paramref name="Ids"/> (N, P + R) = prompts left-padded
/// to P tokens, then responses right-padded to R; <paramref name="AttentionMask"/> (N, P + R) 1 on real tokens;
/// <paramref name="ResponseMask"/> (N, R) 1 on real response tokens (a prefix of each row).
/// </summary>
public sealed record PackedRollouts(Tensor Ids, Tensor AttentionMask, Tensor ResponseMask, int PromptWidth)
{
    /// <summary>R, the padded response width.</summary>
    public int ResponseWidth => (int)ResponseMask.shape[1];

    /// <summary>(N, R) the response tokens (padding where the mask is 0).</summary>
    public Tensor ResponseIds => Ids.narrow(1, PromptWidth, ResponseWidth);
}

/// <summary>
/// One PPO minibatch: the packed tokens and, per response token (N, R), the rollout policy's log-probabilities and values,
/// the advantages and the returns.
/// </summary>
public sealed record PpoMinibatch(PackedRollouts Tokens, Tensor OldLogProbs, Tensor OldValues, Tensor Advantages, Tensor Returns);

/// <summary>
/// RLHF with PPO on the one training loop (Ouyang et al. 2022, InstructGPT; Ziegler et al. 2019; Schulman et al. 2017), as
/// TRL's PPOTrainer: when its rollout buffer is used up, a train <see cref="Step"/> samples <c>rollout_batch_size</c> responses
/// from the policy with the generation engine (batched, KV cache, eval mode, no_grad, sampling at <c>temperature</c>, stopping
/// at the chat template's end-of-turn), scores them with the <see cref="IRewardFunction"/> (minus <c>missing_eot_penalty</c>
/// for a response cut off before end-of-turn), and computes in one pass over the buffer (chunked only when its logits would exceed 64 MB) the rollout policy's log-probabilities
/// and values and the frozen reference's log-probabilities; per-token rewards are the score at the last response token −
/// β·KL(π ‖ π_ref) per token (<see cref="TokenRewards"/>), advantages come from GAE(γ, λ) and are whitened over the batch.
/// Every train Step then takes the next shuffled minibatch of the buffer (<c>ppo_epochs</c> passes) and returns the clipped
/// policy loss + vf_coef·clipped value loss − entropy_coef·entropy (+ the model's auxiliary losses).
/// <para>
/// The policy must be a <see cref="ValueHeadModel"/> (shared trunk, see there). The KL stays bounded by the β·KL penalty,
/// with β fixed (<c>kl_coef</c>) or steered by the adaptive controller of Ziegler et al. (<see cref="KlController"/>) towards
/// <c>target_kl</c>, and optionally by an early stop of the PPO epochs when a minibatch's approx-KL exceeds <c>max_approx_kl</c>.
/// Train metrics (the current rollout batch's, repeated on each of its steps, plus the minibatch's): reward (mean score),
/// kl (mean per-sequence Σ_t (log π − log π_ref) over the batch), beta, entropy, clip_fraction, approx_kl, policy_loss,
/// value_loss, value_clip_fraction, explained_variance, response_length, eot_rate and the time split rollout_seconds /
/// optimize_seconds (cumulative since the run or resume started: sampling and scoring vs. the minibatch forward, backward and
/// optimizer steps). Evaluation (<see cref="StepMode.Eval"/>): greedy (or <c>eval_temperature</c>) responses to the next
/// <c>eval_batch_size</c> held-out prompts; loss = −mean reward; metrics reward, kl (exact per-position KL summed over the
/// response, mean over responses), response_length, eot_rate and, when every prompt
/// has an answer, accuracy (rule-based exact match, <see cref="Reward.Correctness"/>).
/// </para>
/// <para>
/// The reference computes in the policy's compute dtype (set at each step), so that π = π_ref gives a KL of exactly 0.
/// Dropout is not switched off: the update's forward runs in train mode, so give the SFT model dropout 0 (as TRL's
/// disable_dropout) or the importance ratios carry dropout noise.
/// </para>
/// <para>
/// Checkpoint state: the prompt stream position, the rollout-batch count (it seeds the sampling) and β; the rollout buffer
/// does not survive a resume (the resumed run samples a fresh batch).
/// </para>
/// <para>
/// Data parallel (<see cref="Shard"/>): each rank samples rollouts for its B/N of the global batch's prompts (seeded by the
/// rollout batch and its first prompt's place in the batch), scores them, computes GAE over its own rollouts and whitens the
/// advantages with the mean and variance over every rank's tokens, and takes minibatches of mini_batch_size/N of them; a step's
/// <see cref="ObjectiveStep.Weight"/> is its count of response tokens. β's adaptive update and the max_approx_kl early stop
/// use the ranks' mean KL, so every rank decides alike.
/// </para>
/// </summary>
public sealed class PpoObjective : IObjective
{
    private readonly PpoConfig _c;
    private readonly IReadOnlyList<PromptExample> _train, _eval;
    private readonly IReadOnlyList<IReadOnlyList<int>> _trainIds, _evalIds;
    private readonly IReadOnlyList<string> _trainText, _evalText;
    private readonly CausalLM _reference;
    private readonly IRewardFunction _reward;
    private readonly ITextTokenizer _tokenizer;
    private readonly int _endOfTurn;

    private ulong _seed;
    private long _trainPosition, _rolloutBatches;
    private int _evalPosition;
    private Buffer? _buffer;
    private double _rolloutSeconds, _optimizeSeconds;
    private long? _lastTrainExit;
    private readonly PromptOrder _order;
    private readonly DataShard _shard = DataShard.Whole;

    /// <summary>
    /// This process's share of every rollout batch (default: all of it); ppo.rollout_batch_size and ppo.mini_batch_size must
    /// split evenly over the ranks (<see cref="ConfigException"/>), and a split shard needs its <see cref="DataShard.Average"/>.
    /// </summary>
    public DataShard Shard
    {
        get => _shard;
        init
        {
            value.CheckDivisible("ppo.rollout_batch_size", _c.RolloutBatchSize);
            value.CheckDivisible("ppo.mini_batch_size", _c.MiniBatchSize);
            _shard = value;
        }
    }

    /// <summary>β of the KL penalty for the next rollout batch.</summary>
    public double Beta { get; private set; }

    /// <summary>The reward function's name.</summary>
    public string RewardName => _reward.Name;

    /// <summary>
    /// PPO on <paramref name="trainPrompts"/> (evaluation on <paramref name="evalPrompts"/>, or on the training prompts when
    /// null), each rendered as one user turn of <paramref name="template"/> with the generation prompt. Freezes
    /// <paramref name="reference"/> (eval mode, requires_grad off). Throws <see cref="ConfigException"/> when the tokenizer
    /// cannot express the template's special tokens.
    /// </summary>
    public PpoObjective(PpoConfig config, IReadOnlyList<PromptExample> trainPrompts, IReadOnlyList<PromptExample>? evalPrompts,
        CausalLM reference, IRewardFunction reward, ITextTokenizer tokenizer, IChatTemplate template)
    {
        config.ValidateSettings();
        if (trainPrompts.Count == 0) throw new DataException("PPO needs at least one training prompt");
        template.EnsureExpressible(tokenizer);
        _c = config; _train = trainPrompts; _eval = evalPrompts is { Count: > 0 } ? evalPrompts : trainPrompts;
        _reference = reference; _reward = reward; _tokenizer = tokenizer;
        _endOfTurn = template.EndOfTurnId(tokenizer);
        (_trainIds, _trainText) = Encode(_train, template, tokenizer);
        (_evalIds, _evalText) = Encode(_eval, template, tokenizer);
        reference.eval();
        foreach (var p in reference.parameters()) p.requires_grad = false;
        Beta = config.KlCoef;
        _order = new PromptOrder(_train.Count);
    }

    private static (IReadOnlyList<IReadOnlyList<int>>, IReadOnlyList<string>) Encode(IReadOnlyList<PromptExample> prompts, IChatTemplate template, ITextTokenizer tokenizer)
    {
        var ids = new List<IReadOnlyList<int>>(prompts.Count);
        var text = new List<string>(prompts.Count);
        foreach (var p in prompts)
        {
            var messages = new[] { new ChatMessage(ChatMessage.User, p.Prompt) };
            ids.Add(template.RenderIds(tokenizer, messages, addGenerationPrompt: true));
            text.Add(template.Render(messages, addGenerationPrompt: true));
        }
        return (ids, text);
    }

    public IReadOnlyList<CausalLM> FrozenModels => [_reference];

    public void Validate(CausalLM policy)
    {
        if (policy is not ValueHeadModel) throw new ConfigException("PPO trains a policy with a value head: wrap the model in a ValueHeadModel");
        if (policy.VocabSize != _reference.VocabSize)
            throw new ConfigException($"the reference's vocabulary ({_reference.VocabSize} tokens) differs from the policy's ({policy.VocabSize})");
        if (_tokenizer.VocabSize > policy.VocabSize)
            throw new ConfigException($"the tokenizer has {_tokenizer.VocabSize} ids but the model's vocabulary has only {policy.VocabSize}");
        int longest = _trainIds.Concat(_evalIds).Max(p => p.Count);
        int context = Math.Min(policy.MaxSequenceLength, _reference.MaxSequenceLength);
        if (longest + _c.MaxNewTokens > context)
            throw new ConfigException($"the longest prompt ({longest} tokens) plus ppo.max_new_tokens ({_c.MaxNewTokens}) exceeds the model's context ({context} tokens)");
    }

    public ObjectiveStep Step(CausalLM policy, DataSplit split, StepMode mode)
    {
        var model = policy as ValueHeadModel ?? throw new ConfigException("PPO trains a policy with a value head: wrap the model in a ValueHeadModel");
        return mode == StepMode.Eval ? EvalStep(model) : TrainStep(model);
    }

    // ---------------------------------------------------------------- training

    private ObjectiveStep TrainStep(ValueHeadModel policy)
    {
        MatchReferencePrecision(policy);
        long entered = Stopwatch.GetTimestamp();
        if (_lastTrainExit is long exit) _optimizeSeconds += Stopwatch.GetElapsedTime(exit, entered).TotalSeconds;   // backward + optimizer step of the last one
        if (_buffer is null || _buffer.Next >= _buffer.Schedule.Count)
        {
            _buffer?.Dispose();
            _buffer = null;
            _buffer = SampleRollouts(policy);
            _rolloutSeconds += Stopwatch.GetElapsedTime(entered).TotalSeconds;
        }
        long optimizeStart = Stopwatch.GetTimestamp();
        var buffer = _buffer;
        using var index = tensor(buffer.Schedule[buffer.Next++], dtype: ScalarType.Int64);
        var minibatch = buffer.Select(index);
        var (loss, metrics) = MinibatchLoss(policy, minibatch, _c);
        if (_c.MaxApproxKl > 0 && RankMean(metrics["approx_kl"]) > _c.MaxApproxKl) buffer.Next = buffer.Schedule.Count;   // early stop: new rollouts next
        foreach (var (k, v) in buffer.Metrics) metrics[k] = v;
        long tokens = minibatch.Tokens.AttentionMask.sum().item<long>();
        double responseTokens = minibatch.Tokens.ResponseMask.sum().item<float>();          // the losses are means over them
        long now = Stopwatch.GetTimestamp();
        _optimizeSeconds += Stopwatch.GetElapsedTime(optimizeStart, now).TotalSeconds;
        metrics["rollout_seconds"] = _rolloutSeconds;
        metrics["optimize_seconds"] = _optimizeSeconds;
        _lastTrainExit = now;
        return new ObjectiveStep(loss, metrics, tokens) { Weight = responseTokens };
    }

    /// <summary>The mean of <paramref name="value"/> over the ranks (the value itself on one process).</summary>
    private double RankMean(double value)
    {
        var v = new[] { value };
        _shard.AverageInPlace(v);
        return v[0];
    }

    /// <summary>The reference computes in the policy's dtype (the trainer may have switched the policy to bf16), so KL starts at exactly 0.</summary>
    private void MatchReferencePrecision(CausalLM policy)
    {
        if (_reference.ComputeDType != policy.ComputeDType) _reference.ComputeDType = policy.ComputeDType;
    }

    /// <summary>Samples, scores and evaluates one rollout batch under no_grad with the policy in eval mode (its mode is restored).</summary>
    private Buffer SampleRollouts(ValueHeadModel policy)
    {
        bool wasTraining = policy.training;
        policy.eval();
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            int global = _c.RolloutBatchSize, n = _shard.Per(global), first = _shard.Start(global);   // this rank's prompts [first, first + n)
            var picks = Enumerable.Range(first, n).Select(i => TrainPromptIndex(_trainPosition + i)).ToList();
            _trainPosition += global;
            long seed = RolloutSampling.RolloutSeed(_seed, _rolloutBatches, first);
            var options = new GenerationOptions
            {
                DoSample = true, Temperature = _c.Temperature, TopK = _c.TopK, MaxNewTokens = _c.MaxNewTokens,
                EosTokenId = [_endOfTurn], Seed = seed,
            };
            var (rollouts, ended) = Roll(policy, picks.Select(i => _trainIds[i]).ToList(), picks.Select(i => _trainText[i]).ToList(),
                                         picks.Select(i => _train[i].Answer).ToList(), options);
            var raw = _reward.Score(rollouts);
            var scores = raw.Select((s, i) => ended[i] ? s : s - _c.MissingEotPenalty).ToArray();

            var packed = Pack(rollouts, _endOfTurn);
            var (oldLogp, values) = ScoreResponses(policy, packed, withValues: true);
            var (refLogp, _) = ScoreResponses(_reference, packed, withValues: false);
            var mask = packed.ResponseMask;
            double beta = Beta;
            var rewards = TokenRewards(tensor(scores, dtype: ScalarType.Float32), oldLogp, refLogp, mask, beta, _c.KlEstimator);
            var (advantages, returns) = Gae(rewards, values!, mask, _c.Gamma, _c.Lam);
            if (_c.WhitenAdvantages) advantages = _shard.IsSplit ? WhitenOverRanks(advantages, mask, _shard) : Whiten(advantages, mask);

            double kl = RankMean((KlK1(oldLogp, refLogp) * mask).sum(-1).mean().item<float>());   // every rank steers β alike
            var metrics = new Dictionary<string, double>
            {
                ["reward"] = raw.Average(),
                ["kl"] = kl,
                ["beta"] = beta,
                ["response_length"] = mask.sum(-1).mean().item<float>(),
                ["eot_rate"] = ended.Count(e => e) / (double)n,
            };
            double explained = ExplainedVariance(values!, returns, mask).item<float>();
            if (double.IsFinite(explained)) metrics["explained_variance"] = explained;      // NaN (left out) when the returns do not vary
            if (_c.TargetKl > 0) Beta = KlController.Update(Beta, kl, _c.TargetKl, global, _c.KlHorizon);
            var schedule = MinibatchSchedule(n, _shard.Per(_c.MiniBatchSize), _c.PpoEpochs, new SplitMix64(_seed ^ (0x9E3779B97F4A7C15UL * (ulong)(_rolloutBatches + 1))));
            _rolloutBatches++;
            var kept = new PpoMinibatch(
                new PackedRollouts(packed.Ids.DetachFromDisposeScope(), packed.AttentionMask.DetachFromDisposeScope(), mask.DetachFromDisposeScope(), packed.PromptWidth),
                oldLogp.DetachFromDisposeScope(), values!.DetachFromDisposeScope(), advantages.DetachFromDisposeScope(), returns.DetachFromDisposeScope());
            return new Buffer(kept, schedule, metrics);
        }
        finally { policy.train(wasTraining); }
    }

    /// <summary>
    /// <see cref="PolicyGradientMath.Whiten"/> with the mean and population variance over the valid tokens of every rank
    /// (Σx, Σx², count averaged over the ranks), so the advantages are whitened as over the whole global batch. (B, T).
    /// </summary>
    internal static Tensor WhitenOverRanks(Tensor x, Tensor mask, DataShard shard, double eps = 1e-8)
    {
        var m = mask.to(x.dtype);
        var stats = new double[] { (x * m).sum().item<float>(), (x * x * m).sum().item<float>(), m.sum().item<float>() };
        shard.AverageInPlace(stats);                                                        // each divided by N alike: the ratios hold
        double count = Math.Max(stats[2], 1e-12), mean = stats[0] / count, variance = Math.Max(stats[1] / count - mean * mean, 0);
        return (x - mean) * (1 / Math.Sqrt(variance + eps)) * m;
    }

    /// <summary>The prompt at stream position <paramref name="position"/>: each pass over the prompts in a fresh seeded order.</summary>
    private int TrainPromptIndex(long position) => _order.At(position, _seed);

    /// <summary>
    /// Row indices of every minibatch of <paramref name="epochs"/> passes over <paramref name="n"/> rollouts: each pass a fresh
    /// permutation cut into consecutive minibatches of <paramref name="miniBatchSize"/> (the last may be smaller).
    /// </summary>
    public static IReadOnlyList<long[]> MinibatchSchedule(int n, int miniBatchSize, int epochs, SplitMix64 rng) =>
        RolloutSampling.MinibatchSchedule(n, miniBatchSize, epochs, rng);

    /// <summary>Generates one response per prompt; returns the rollouts and whether each ended with the end-of-turn token.</summary>
    private (IReadOnlyList<Rollout>, IReadOnlyList<bool>) Roll(CausalLM policy, IReadOnlyList<IReadOnlyList<int>> promptIds, IReadOnlyList<string> promptText,
        IReadOnlyList<string?> answers, GenerationOptions options)
    {
        var prompts = promptIds.Select((ids, i) => new EncodedPrompt(ids, promptText[i], answers[i], null)).ToList();
        var (rollouts, finish) = RolloutSampling.Generate(policy, _tokenizer, prompts, options, _endOfTurn);
        return (rollouts, finish.Select(f => f == FinishReason.EndOfSequence).ToList());
    }

    private static (Tensor LogProbs, Tensor? Values) ScoreResponses(CausalLM model, PackedRollouts packed, bool withValues) =>
        RolloutSampling.ScoreResponses(model, packed, withValues);

    // ---------------------------------------------------------------- evaluation

    /// <summary>Mean over rows of Σ_t KL(π(·|s_t) ‖ π_ref(·|s_t)) along each response, exact over the vocabulary at every response position.</summary>
    private double SequenceKl(CausalLM policy, PackedRollouts packed) => RolloutSampling.ExactKl(policy, _reference, packed).Sum / packed.Ids.shape[0];

    private ObjectiveStep EvalStep(ValueHeadModel policy)
    {
        MatchReferencePrecision(policy);
        _lastTrainExit = null;                                     // the gap around an evaluation is not optimisation time
        int n = _c.EvalBatchSize;
        var picks = Enumerable.Range(0, n).Select(i => (_evalPosition + i) % _eval.Count).ToList();
        _evalPosition = (_evalPosition + n) % _eval.Count;
        var options = new GenerationOptions
        {
            DoSample = _c.EvalTemperature > 0, Temperature = _c.EvalTemperature > 0 ? _c.EvalTemperature : 1.0, TopK = _c.TopK,
            MaxNewTokens = _c.MaxNewTokens, EosTokenId = [_endOfTurn], Seed = (long)(_seed & long.MaxValue),
        };
        var answers = picks.Select(i => _eval[i].Answer).ToList();
        var (rollouts, ended) = Roll(policy, picks.Select(i => _evalIds[i]).ToList(), picks.Select(i => _evalText[i]).ToList(), answers, options);
        var raw = _reward.Score(rollouts);
        var scores = raw.Select((s, i) => ended[i] ? s : s - _c.MissingEotPenalty).ToArray();
        var packed = Pack(rollouts, _endOfTurn);
        var metrics = new Dictionary<string, double>
        {
            ["reward"] = raw.Average(),
            ["kl"] = SequenceKl(policy, packed),
            ["response_length"] = packed.ResponseMask.sum(-1).mean().item<float>(),
            ["eot_rate"] = ended.Count(e => e) / (double)n,
        };
        if (answers.All(a => a is not null))
            metrics["accuracy"] = rollouts.Average(r => Reward.Correctness(r.Response, r.Answer!));
        long tokens = packed.AttentionMask.sum().item<long>();
        return new ObjectiveStep(tensor((float)-scores.Average()), metrics, tokens);
    }

    // ---------------------------------------------------------------- state

    public void Reseed(DataSplit split, ulong seed)
    {
        if (split == DataSplit.Train)
        {
            _seed = seed; _trainPosition = 0; _rolloutBatches = 0; 
            Beta = _c.KlCoef;
            DropBuffer();
        }
        else _evalPosition = 0;
    }

    public string SaveState() => JsonSerializer.Serialize(new State(_seed, _trainPosition, _rolloutBatches, Beta));

    public void RestoreState(string state)
    {
        State s;
        try { s = JsonSerializer.Deserialize<State>(state) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new CheckpointException($"the PPO data state of the checkpoint is corrupt ({e.Message})"); }
        _seed = s.Seed; _trainPosition = s.Position; _rolloutBatches = s.RolloutBatches; Beta = s.Beta; 
        DropBuffer();
    }

    private void DropBuffer()
    {
        _buffer?.Dispose();
        _buffer = null;
        _lastTrainExit = null;
    }

    private sealed record State(ulong Seed, long Position, long RolloutBatches, double Beta);

    /// <summary>A rollout batch kept across Steps (outside every dispose scope) and where its minibatch schedule stands.</summary>
    private sealed class Buffer(PpoMinibatch data, IReadOnlyList<long[]> schedule, Dictionary<string, double> metrics) : IDisposable
    {
        public IReadOnlyList<long[]> Schedule { get; } = schedule;
        public IReadOnlyDictionary<string, double> Metrics { get; } = metrics;
        public int Next { get; set; }

        /// <summary>Rows <paramref name="index"/> of every tensor (in the caller's dispose scope).</summary>
        public PpoMinibatch Select(Tensor index)
        {
            var t = data.Tokens;
            return new PpoMinibatch(
                new PackedRollouts(t.Ids.index_select(0, index), t.AttentionMask.index_select(0, index), t.ResponseMask.index_select(0, index), t.PromptWidth),
                data.OldLogProbs.index_select(0, index), data.OldValues.index_select(0, index),
                data.Advantages.index_select(0, index), data.Returns.index_select(0, index));
        }

        public void Dispose()
        {
            data.Tokens.Ids.Dispose(); data.Tokens.AttentionMask.Dispose(); data.Tokens.ResponseMask.Dispose();
            data.OldLogProbs.Dispose(); data.OldValues.Dispose(); data.Advantages.Dispose(); data.Returns.Dispose();
        }
    }

    // ---------------------------------------------------------------- pure pieces

    /// <summary>
    /// Packs rollouts into one batch: each prompt (the first PromptLength ids) left-padded to the longest prompt P, each response
    /// right-padded to the longest response R, padding with <paramref name="padId"/> (masked out everywhere).
    /// </summary>
    public static PackedRollouts Pack(IReadOnlyList<Rollout> rollouts, int padId)
    {
        int n = rollouts.Count;
        int p = rollouts.Max(r => r.PromptLength), rw = Math.Max(1, rollouts.Max(r => r.ResponseLength));
        var ids = new long[n * (p + rw)];
        var attention = new long[n * (p + rw)];
        var response = new float[n * rw];
        Array.Fill(ids, padId);
        for (int i = 0; i < n; i++)
        {
            var r = rollouts[i];
            int row = i * (p + rw), offset = p - r.PromptLength;
            for (int j = 0; j < r.PromptLength; j++) { ids[row + offset + j] = r.Ids[j]; attention[row + offset + j] = 1; }
            for (int j = 0; j < r.ResponseLength; j++)
            {
                ids[row + p + j] = r.Ids[r.PromptLength + j];
                attention[row + p + j] = 1;
                response[i * rw + j] = 1;
            }
        }
        return new PackedRollouts(tensor(ids, [n, p + rw]), tensor(attention, [n, p + rw]), tensor(response, [n, rw]), p);
    }

    /// <summary>
    /// One forward of <paramref name="model"/> over packed rollouts: the logits (N, R, V) in float32 that predict each response
    /// token (positions P − 1 … P + R − 2) and, for a <see cref="ValueHeadModel"/> with <paramref name="withValues"/>, the values
    /// (N, R) at the same positions (the state before each response token). Logits are computed for those R positions only.
    /// </summary>
    public static (Tensor Logits, Tensor? Values) ResponseForward(CausalLM model, PackedRollouts packed, bool withValues)
    {
        int p = packed.PromptWidth, r = packed.ResponseWidth;
        var input = new CausalLMInput(packed.Ids) { AttentionMask = packed.AttentionMask, LogitsToKeep = r + 1 };
        CausalLMOutput output;
        Tensor? values = null;
        if (withValues && model is ValueHeadModel vh)
        {
            (output, var all) = vh.ForwardWithValues(input);
            values = all.narrow(1, p - 1, r);                                              // (N, R)
        }
        else output = model.call(input);
        var logits = output.TakeLogits().narrow(1, 0, r).to(ScalarType.Float32);          // (N, R, V)
        output.Dispose();
        return (logits, values);
    }

    /// <summary>
    /// Per-token rewards of a rollout batch: score at each row's last response token − β·KL per token, with KL the
    /// <paramref name="estimator"/> ("k1" = log π − log π_ref, "k3") of the rollout policy's and the reference's token
    /// log-probabilities (<see cref="PolicyGradientMath.TokenRewards"/>); 0 on padding. (N, R).
    /// </summary>
    public static Tensor TokenRewards(Tensor scores, Tensor logp, Tensor refLogp, Tensor mask, double beta, string estimator = "k1")
    {
        var kl = estimator switch
        {
            "k1" => KlK1(logp, refLogp),
            "k3" => KlK3(logp, refLogp),
            _ => throw new ArgumentException($"unknown KL estimator '{estimator}'", nameof(estimator)),
        };
        return PolicyGradientMath.TokenRewards(scores, kl, mask, beta);
    }

    /// <summary>
    /// PPO's loss on one minibatch (Schulman et al. 2017): clipped policy loss + vf_coef·clipped value loss − entropy_coef·entropy
    /// + the policy's auxiliary losses, every mean over the real response tokens only; with the minibatch's metrics
    /// policy_loss, value_loss, clip_fraction, value_clip_fraction, approx_kl (½·mean (log π − log π_old)², as TRL) and entropy.
    /// </summary>
    public static (Tensor Loss, Dictionary<string, double> Metrics) MinibatchLoss(ValueHeadModel policy, PpoMinibatch batch, PpoConfig config)
    {
        var packed = batch.Tokens;
        var mask = packed.ResponseMask;
        int p = packed.PromptWidth, r = packed.ResponseWidth;
        var (output, allValues) = policy.ForwardWithValues(new CausalLMInput(packed.Ids) { AttentionMask = packed.AttentionMask, LogitsToKeep = r + 1 });
        var logits = output.TakeLogits().narrow(1, 0, r).to(ScalarType.Float32);          // (N, R, V)
        var values = allValues.narrow(1, p - 1, r);                                         // (N, R)
        var logp = TokenLogProbs(logits, packed.ResponseIds);                              // (N, R)
        var (policyLoss, clipFraction) = ClippedPolicyLoss(logp, batch.OldLogProbs, batch.Advantages, mask, config.ClipRange);
        var (valueLoss, valueClipFraction) = ClippedValueLoss(values, batch.OldValues, batch.Returns, mask, config.ClipRangeValue);
        var loss = policyLoss + config.VfCoef * valueLoss;
        Tensor entropy;
        if (config.EntropyCoef > 0)
        {
            entropy = Entropy(logits, mask);
            loss = loss - config.EntropyCoef * entropy;
        }
        else using (no_grad()) entropy = Entropy(logits, mask);
        foreach (var aux in output.AuxiliaryLosses) loss = loss + aux;
        Tensor approxKl;
        using (no_grad())
        {
            var d = logp - batch.OldLogProbs;
            approxKl = 0.5 * MaskedMean(d * d, mask);
        }
        var metrics = new Dictionary<string, double>
        {
            ["policy_loss"] = policyLoss.item<float>(),
            ["value_loss"] = valueLoss.item<float>(),
            ["clip_fraction"] = clipFraction.item<float>(),
            ["value_clip_fraction"] = valueClipFraction.item<float>(),
            ["approx_kl"] = approxKl.item<float>(),
            ["entropy"] = entropy.item<float>(),
        };
        return (loss, metrics);
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using SharpSeek.Data;
using SharpSeek.Data.Prompts;
using SharpSeek.Data.Tasks;
using SharpSeek.Distributed;
using SharpSeek.Evaluation;
using SharpSeek.Generation;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using TorchSharp;
using static TorchSharp.torch;
using static SharpSeek.Training.Objectives.PolicyGradientMath;

namespace SharpSeek.Training.Objectives;

/// <summary>One stage of a GRPO curriculum: its prompts and how many optimizer steps it lasts (the last stage lasts while training goes on).</summary>
public sealed record GrpoPromptStage(string Name, IReadOnlyList<PromptExample> Prompts, int Steps);

/// <summary>
/// One GRPO minibatch: the packed tokens and, per response token (N, R), the rollout policy's and the reference's
/// log-probabilities (the reference's null when β = 0), and one group-relative advantage per completion (N).
/// </summary>
public sealed record GrpoMinibatch(PackedRollouts Tokens, Tensor OldLogProbs, Tensor? RefLogProbs, Tensor Advantages);

/// <summary>
/// GRPO on the one training loop (Shao et al. 2024, "DeepSeekMath", §4.1; DeepSeek-AI 2025, "DeepSeek-R1", §2.2): PPO without a
/// value model, whose baseline is the mean reward of G completions of the same prompt. When its rollout buffer is used up, a
/// train <see cref="Step"/> samples <c>prompts_per_step</c> prompts and G completions of each in one batched, KV-cached generator
/// call (policy in eval mode, no_grad, seeded by (seed, rollout batch)), scores them with the weighted rule rewards
/// (<see cref="WeightedRewards"/>), computes the group advantages (<see cref="GrpoMath.Advantages"/>), the rollout policy's
/// token log-probabilities (π_old) and, when β &gt; 0, the frozen reference's. Every train Step then takes the next shuffled
/// minibatch of the buffer (<c>mu</c> passes) and returns <see cref="GrpoMath.Reduce"/>(<see cref="GrpoMath.TokenLoss"/>)
/// (+ the model's auxiliary losses).
/// <para>
/// Prompts are plain text (question + newline, completions stop at a blank line, as <see cref="TaskAccuracy"/>) or one user
/// turn of the chat template (stop at end-of-turn). With a curriculum (several <see cref="GrpoPromptStage"/>s) the stage of a
/// step follows from the count of train Steps (stage i lasts its steps × <c>grad_accum</c> Steps); a rollout batch of an
/// earlier stage still in the buffer at a stage switch is dropped.
/// </para>
/// <para>
/// Train metrics (the rollout batch's, repeated on each of its steps, plus the minibatch's): reward_mean, reward_std (mean
/// within-group standard deviation), accuracy (strict tagged answer, over completions whose prompt has an answer or task),
/// format_rate, completion_length, finished_rate (stopped at end-of-turn / the stop string, not at max_new_tokens),
/// zero_advantage_groups (share of groups whose rewards are all equal: they teach nothing), reward_errors (reward-function
/// failures in the batch), stage; per minibatch kl (mean k3 per token to the reference), clip_fraction, ratio_mean; and the
/// cumulative generation_seconds / optimize_seconds. Evaluation: greedy (or <c>eval_temperature</c>) completions of the next
/// <c>eval_batch_size</c> held-out prompts; loss = −mean reward; metrics reward, accuracy, format_rate, completion_length,
/// finished_rate and kl (exact per-token KL to the reference).
/// </para>
/// <para>
/// Checkpoint state: the seed, the count of train Steps, the stage and its prompt stream position, the rollout-batch count
/// and the rollout buffer itself (tokens, log-probabilities, advantages, minibatch schedule), so a resume continues exactly.
/// </para>
/// <para>
/// Data parallel (<see cref="Shard"/>): each rank takes its prompts_per_step/N prompts of the global batch, samples their G
/// completions itself (seeded by the rollout batch and its first prompt's place in the batch), computes the advantages of
/// its own groups (a group is one prompt's, so they are the groups' exact advantages) and takes minibatches of
/// mini_batch_size/N of its completions; with loss_normalisation token a step's <see cref="ObjectiveStep.Weight"/> is its
/// count of completion tokens. Rank 0 saves no rollout buffer then (it holds only its share): a resume samples a fresh batch.
/// </para>
/// </summary>
public sealed class GrpoObjective : IObjective
{
    private readonly GrpoConfig _c;
    private readonly IReadOnlyList<GrpoPromptStage> _stages;
    private readonly IReadOnlyList<IReadOnlyList<EncodedPrompt>> _stagePrompts;
    private readonly IReadOnlyList<EncodedPrompt> _evalPrompts;
    private readonly PromptOrder[] _orders;
    private readonly CausalLM? _reference;
    private readonly WeightedRewards _reward;
    private readonly ITextTokenizer _tokenizer;
    private readonly int? _stopId;
    private readonly IReadOnlyList<string>? _stopStrings;
    private readonly long[] _stageEnds;             // train Steps after which each stage ends (cumulative; long.MaxValue for the last)

    private ulong _seed;
    private long _microSteps, _position, _rolloutBatches;
    private int _stage, _evalPosition;
    private Buffer? _buffer;
    private double _generationSeconds, _optimizeSeconds;
    private long? _lastTrainExit;
    private readonly DataShard _shard = DataShard.Whole;

    /// <summary>
    /// This process's share of every rollout batch (default: all of it); grpo.prompts_per_step and grpo.mini_batch_size must
    /// split evenly over the ranks (<see cref="ConfigException"/>).
    /// </summary>
    public DataShard Shard
    {
        get => _shard;
        init
        {
            value.CheckDivisible("grpo.prompts_per_step", _c.PromptsPerStep);
            value.CheckDivisible("grpo.mini_batch_size", _c.MiniBatchSize);
            _shard = value;
        }
    }

    /// <summary>The prompt layout in use (plain text or chat).</summary>
    public PromptFormat Format { get; }

    /// <summary>The reward's name (e.g. "accuracy+0.1·format").</summary>
    public string RewardName => _reward.Name;

    /// <summary>GRPO on one prompt set (no curriculum); see the other constructor.</summary>
    public GrpoObjective(GrpoConfig config, IReadOnlyList<PromptExample> trainPrompts, IReadOnlyList<PromptExample>? evalPrompts,
        CausalLM? reference, WeightedRewards reward, ITextTokenizer tokenizer, IChatTemplate template)
        : this(config, [new GrpoPromptStage("train", trainPrompts, int.MaxValue)], evalPrompts, reference, reward, tokenizer, template) { }

    /// <summary>
    /// GRPO over the curriculum <paramref name="stages"/> (evaluation on <paramref name="evalPrompts"/>, or on the first stage's
    /// prompts when null). <paramref name="reference"/> is frozen here (eval mode, requires_grad off); it may be null only when
    /// β = 0. <paramref name="gradAccum"/>: trainer micro-batches per optimizer step (stages count optimizer steps). The prompt
    /// format "auto" is chat when the tokenizer holds <paramref name="template"/>'s special tokens; "chat" requires them
    /// (<see cref="ConfigException"/> otherwise).
    /// </summary>
    public GrpoObjective(GrpoConfig config, IReadOnlyList<GrpoPromptStage> stages, IReadOnlyList<PromptExample>? evalPrompts,
        CausalLM? reference, WeightedRewards reward, ITextTokenizer tokenizer, IChatTemplate template, int gradAccum = 1)
    {
        config.ValidateSettings();
        if (stages.Count == 0) throw new ConfigException("GRPO needs at least one prompt stage");
        for (int i = 0; i < stages.Count; i++)
        {
            if (stages[i].Prompts.Count == 0) throw new DataException($"GRPO stage {stages[i].Name} has no prompts");
            if (stages[i].Steps <= 0) throw new ConfigException($"GRPO stage {stages[i].Name} must last a positive number of steps, got {stages[i].Steps}");
        }
        if (gradAccum < 1) throw new ConfigException($"grad_accum must be positive, got {gradAccum}");
        if (config.Beta > 0 && reference is null) throw new ConfigException("grpo.beta > 0 needs a reference model (or set grpo.beta to 0)");
        _c = config; _stages = stages; _reference = config.Beta > 0 ? reference : null; _reward = reward; _tokenizer = tokenizer;

        Format = config.PromptFormat switch
        {
            "plain" => PromptFormat.Plain,
            "chat" => PromptFormat.Chat,
            _ => TaskAccuracy.Detect(tokenizer, template),
        };
        Func<PromptExample, EncodedPrompt> encode;
        if (Format == PromptFormat.Chat)
        {
            template.EnsureExpressible(tokenizer);
            int endOfTurn = template.EndOfTurnId(tokenizer);
            _stopId = endOfTurn;
            encode = p =>
            {
                var messages = new[] { new ChatMessage(ChatMessage.User, p.Prompt) };
                return new EncodedPrompt(template.RenderIds(tokenizer, messages, addGenerationPrompt: true), template.Render(messages, addGenerationPrompt: true), p.Answer, p.Task);
            };
        }
        else
        {
            _stopId = tokenizer.EosId;
            _stopStrings = [TaskExport.SampleSeparator];
            encode = p =>
            {
                string text = TaskExport.PlainPrompt(p.Prompt);
                return new EncodedPrompt(tokenizer.Encode(text), text, p.Answer, p.Task);
            };
        }
        _stagePrompts = stages.Select(s => (IReadOnlyList<EncodedPrompt>)s.Prompts.Select(encode).ToList()).ToList();
        _evalPrompts = evalPrompts is { Count: > 0 } ? evalPrompts.Select(encode).ToList() : _stagePrompts[0];
        _orders = stages.Select(s => new PromptOrder(s.Prompts.Count)).ToArray();
        _stageEnds = new long[stages.Count];
        long end = 0;
        for (int i = 0; i < stages.Count; i++)
        {
            end = i == stages.Count - 1 || stages[i].Steps == int.MaxValue ? long.MaxValue : end + (long)stages[i].Steps * gradAccum;
            _stageEnds[i] = end;
        }
        if (_reference is not null)
        {
            _reference.eval();
            foreach (var p in _reference.parameters()) p.requires_grad = false;
        }
    }

    public IReadOnlyList<CausalLM> FrozenModels => _reference is null ? [] : [_reference];

    public void Validate(CausalLM policy)
    {
        if (_reference is not null && policy.VocabSize != _reference.VocabSize)
            throw new ConfigException($"the reference's vocabulary ({_reference.VocabSize} tokens) differs from the policy's ({policy.VocabSize})");
        if (_tokenizer.VocabSize > policy.VocabSize)
            throw new ConfigException($"the tokenizer has {_tokenizer.VocabSize} ids but the model's vocabulary has only {policy.VocabSize}");
        int longest = _stagePrompts.SelectMany(s => s).Concat(_evalPrompts).Max(p => p.Ids.Count);
        int context = Math.Min(policy.MaxSequenceLength, _reference?.MaxSequenceLength ?? int.MaxValue);
        if (longest + _c.MaxNewTokens > context)
            throw new ConfigException($"the longest prompt ({longest} tokens) plus grpo.max_new_tokens ({_c.MaxNewTokens}) exceeds the model's context ({context} tokens)");
    }

    public ObjectiveStep Step(CausalLM policy, DataSplit split, StepMode mode) =>
        mode == StepMode.Eval ? EvalStep(policy) : TrainStep(policy);

    /// <summary>The curriculum stage of train Step number <paramref name="microStep"/> (0-based).</summary>
    private int StageAt(long microStep)
    {
        int i = 0;
        while (i < _stageEnds.Length - 1 && microStep >= _stageEnds[i]) i++;
        return i;
    }

    // ---------------------------------------------------------------- training

    private ObjectiveStep TrainStep(CausalLM policy)
    {
        MatchReferencePrecision(policy);
        long entered = Stopwatch.GetTimestamp();
        if (_lastTrainExit is long exit) _optimizeSeconds += Stopwatch.GetElapsedTime(exit, entered).TotalSeconds;   // backward + optimizer step of the last one
        int stage = StageAt(_microSteps);
        if (stage != _stage)
        {
            _stage = stage;
            _position = 0;
            _buffer?.Dispose();
            _buffer = null;
        }
        if (_buffer is null || _buffer.Next >= _buffer.Schedule.Count)
        {
            _buffer?.Dispose();
            _buffer = null;
            _buffer = SampleRollouts(policy);
            _generationSeconds += Stopwatch.GetElapsedTime(entered).TotalSeconds;
        }
        long optimizeStart = Stopwatch.GetTimestamp();
        var buffer = _buffer;
        using var index = tensor(buffer.Schedule[buffer.Next++], dtype: ScalarType.Int64);
        var minibatch = buffer.Select(index);
        var (loss, metrics) = MinibatchLoss(policy, minibatch, _c);
        foreach (var (k, v) in buffer.Metrics) metrics[k] = v;
        metrics["stage"] = _stage;
        long tokens = minibatch.Tokens.AttentionMask.sum().item<long>();
        double weight = _c.Normalisation == GrpoLossNormalisation.PerToken
            ? minibatch.Tokens.ResponseMask.sum().item<float>()                            // a mean over completion tokens
            : minibatch.Tokens.Ids.shape[0];                                               // a mean over completions
        _microSteps++;
        long now = Stopwatch.GetTimestamp();
        _optimizeSeconds += Stopwatch.GetElapsedTime(optimizeStart, now).TotalSeconds;
        metrics["generation_seconds"] = _generationSeconds;
        metrics["optimize_seconds"] = _optimizeSeconds;
        _lastTrainExit = now;
        return new ObjectiveStep(loss, metrics, tokens) { Weight = weight };
    }

    private void MatchReferencePrecision(CausalLM policy)
    {
        if (_reference is not null && _reference.ComputeDType != policy.ComputeDType) _reference.ComputeDType = policy.ComputeDType;
    }

    private GenerationOptions Options(bool sample, double temperature, int returnSequences, long seed) => new()
    {
        DoSample = sample, Temperature = temperature, TopK = _c.TopK, MaxNewTokens = _c.MaxNewTokens, NumReturnSequences = returnSequences,
        EosTokenId = _stopId is int s ? [s] : [], StopStrings = _stopStrings, Seed = seed,
    };

    /// <summary>Samples, scores and evaluates one rollout batch under no_grad with the policy in eval mode (its mode is restored).</summary>
    private Buffer SampleRollouts(CausalLM policy)
    {
        bool wasTraining = policy.training;
        policy.eval();
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            int n = _shard.Per(_c.PromptsPerStep), g = _c.GroupSize, first = _shard.Start(_c.PromptsPerStep);   // this rank's prompts [first, first + n)
            var prompts = _stagePrompts[_stage];
            ulong stageSeed = _seed + 0x94D049BB133111EBUL * (ulong)_stage;
            var picks = Enumerable.Range(first, n).Select(i => prompts[_orders[_stage].At(_position + i, stageSeed)]).ToList();
            _position += _c.PromptsPerStep;
            long seed = RolloutSampling.RolloutSeed(_seed, _rolloutBatches, first);
            var (rollouts, finish) = RolloutSampling.Generate(policy, _tokenizer, picks, Options(true, _c.Temperature, g, seed), _stopId);
            long errorsBefore = _reward.Errors;
            var (total, _) = _reward.ScoreTerms(rollouts);

            var rewards = tensor(total.Select(r => (float)r).ToArray());                    // (N·G)
            var advantages = GrpoMath.Advantages(rewards, g, scale: _c.ScaleRewards);       // (N·G)
            var packed = RolloutPack(rollouts);
            var (oldLogp, _) = RolloutSampling.ScoreResponses(policy, packed, withValues: false);
            Tensor? refLogp = _reference is null ? null : RolloutSampling.ScoreResponses(_reference, packed, withValues: false).LogProbs;

            var grouped = rewards.view(n, g);                                                // (N, G)
            var metrics = new Dictionary<string, double>
            {
                ["reward_mean"] = total.Average(),
                ["reward_std"] = grouped.std(1).mean().item<float>(),
                ["zero_advantage_groups"] = grouped.amax(1).eq(grouped.amin(1)).to(ScalarType.Float32).mean().item<float>(),
                ["completion_length"] = packed.ResponseMask.sum(-1).mean().item<float>(),
                ["finished_rate"] = finish.Count(f => f != FinishReason.Length) / (double)finish.Count,
                ["reward_errors"] = _reward.Errors - errorsBefore,
            };
            AddRuleMetrics(metrics, rollouts);
            var schedule = RolloutSampling.MinibatchSchedule(n * g, _shard.Per(_c.EffectiveMiniBatchSize), _c.Mu,
                new SplitMix64(_seed ^ (0x9E3779B97F4A7C15UL * (ulong)(_rolloutBatches + 1))));
            _rolloutBatches++;
            var kept = new GrpoMinibatch(
                new PackedRollouts(packed.Ids.DetachFromDisposeScope(), packed.AttentionMask.DetachFromDisposeScope(), packed.ResponseMask.DetachFromDisposeScope(), packed.PromptWidth),
                oldLogp.DetachFromDisposeScope(), refLogp?.DetachFromDisposeScope(), advantages.DetachFromDisposeScope());
            return new Buffer(kept, schedule, metrics);
        }
        finally { policy.train(wasTraining); }
    }

    private PackedRollouts RolloutPack(IReadOnlyList<Rollout> rollouts) => PpoObjective.Pack(rollouts, _stopId ?? 0);

    /// <summary>accuracy (strict tagged answer, over the completions that can be checked) and format_rate; a rule that fails counts 0.</summary>
    private static void AddRuleMetrics(Dictionary<string, double> metrics, IReadOnlyList<Rollout> rollouts)
    {
        var checkable = rollouts.Where(AccuracyReward.CanScore).ToList();
        if (checkable.Count > 0) metrics["accuracy"] = checkable.Average(r => SafeRule(() => AccuracyReward.ScoreOne(r)));
        metrics["format_rate"] = rollouts.Average(r => SafeRule(() => Reward.Format(r.Response)));
    }

    private static double SafeRule(Func<double> rule)
    {
        try { return rule(); }
        catch (Exception e) when (e is not OperationCanceledException) { return 0; }
    }

    /// <summary>
    /// GRPO's loss on one minibatch: <see cref="GrpoMath.Reduce"/> of <see cref="GrpoMath.TokenLoss"/> over the real completion
    /// tokens (+ the policy's auxiliary losses), with the metrics kl (mean k3 to the reference per token; absent when β = 0),
    /// clip_fraction (share of tokens where the clipped term is the one taken) and ratio_mean (mean π/π_old per token).
    /// </summary>
    public static (Tensor Loss, Dictionary<string, double> Metrics) MinibatchLoss(CausalLM policy, GrpoMinibatch batch, GrpoConfig config)
    {
        var packed = batch.Tokens;
        var mask = packed.ResponseMask;
        int r = packed.ResponseWidth;
        var output = policy.call(new CausalLMInput(packed.Ids) { AttentionMask = packed.AttentionMask, LogitsToKeep = r + 1 });
        var logits = output.TakeLogits().narrow(1, 0, r).to(ScalarType.Float32);          // (N, R, V)
        var logp = TokenLogProbs(logits, packed.ResponseIds);                              // (N, R)
        var tokenLoss = GrpoMath.TokenLoss(logp, batch.OldLogProbs, batch.RefLogProbs ?? logp, batch.Advantages, config.ClipLow, config.ClipHigh,
                                           batch.RefLogProbs is null ? 0 : config.Beta, config.K3Clamp);  // (N, R)
        var loss = GrpoMath.Reduce(tokenLoss, mask, config.Normalisation);
        foreach (var aux in output.AuxiliaryLosses) loss = loss + aux;
        var metrics = new Dictionary<string, double>();
        using (no_grad())
        {
            var ratio = (logp - batch.OldLogProbs).exp();                                  // (N, R)
            var a = batch.Advantages.unsqueeze(-1);                                        // (N, 1)
            var clipped = ratio.clamp(1 - config.ClipLow, 1 + config.ClipHigh) * a;
            metrics["clip_fraction"] = MaskedMean(clipped.lt(ratio * a).to(ScalarType.Float32), mask).item<float>();
            metrics["ratio_mean"] = MaskedMean(ratio, mask).item<float>();
            if (batch.RefLogProbs is { } refLogp) metrics["kl"] = MaskedMean(KlK3(logp, refLogp), mask).item<float>();
        }
        return (loss, metrics);
    }

    // ---------------------------------------------------------------- evaluation

    private ObjectiveStep EvalStep(CausalLM policy)
    {
        MatchReferencePrecision(policy);
        _lastTrainExit = null;                                     // the gap around an evaluation is not optimisation time
        int n = _c.EvalBatchSize;
        var picks = Enumerable.Range(0, n).Select(i => _evalPrompts[(_evalPosition + i) % _evalPrompts.Count]).ToList();
        _evalPosition = (_evalPosition + n) % _evalPrompts.Count;
        bool sample = _c.EvalTemperature > 0;
        var options = Options(sample, sample ? _c.EvalTemperature : 1.0, 1, (long)(_seed & long.MaxValue));
        var (rollouts, finish) = RolloutSampling.Generate(policy, _tokenizer, picks, options, _stopId);
        var (total, _) = _reward.ScoreTerms(rollouts);
        var packed = RolloutPack(rollouts);
        var metrics = new Dictionary<string, double>
        {
            ["reward"] = total.Average(),
            ["completion_length"] = packed.ResponseMask.sum(-1).mean().item<float>(),
            ["finished_rate"] = finish.Count(f => f != FinishReason.Length) / (double)finish.Count,
        };
        AddRuleMetrics(metrics, rollouts);
        if (_reference is not null)
        {
            var (sum, count) = RolloutSampling.ExactKl(policy, _reference, packed);
            metrics["kl"] = sum / Math.Max(1, count);
        }
        long tokens = packed.AttentionMask.sum().item<long>();
        return new ObjectiveStep(tensor((float)-total.Average()), metrics, tokens);
    }

    // ---------------------------------------------------------------- state

    public void Reseed(DataSplit split, ulong seed)
    {
        if (split == DataSplit.Train)
        {
            _seed = seed; _microSteps = 0; _position = 0; _rolloutBatches = 0; _stage = 0;
            DropBuffer();
        }
        else _evalPosition = 0;
    }

    /// <summary>Metrics of a diverged run may be NaN; the state must still be written.</summary>
    private static readonly JsonSerializerOptions StateJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public string SaveState() =>
        JsonSerializer.Serialize(new State(_seed, _microSteps, _stage, _position, _rolloutBatches, _shard.IsSplit ? null : _buffer?.ToState()), StateJson);

    public void RestoreState(string state)
    {
        State s;
        try { s = JsonSerializer.Deserialize<State>(state, StateJson) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new CheckpointException($"the GRPO data state of the checkpoint is corrupt ({e.Message})"); }
        if (s.Stage < 0 || s.Stage >= _stages.Count)
            throw new CheckpointException($"the checkpoint is in GRPO stage {s.Stage}, but the curriculum has {_stages.Count} stage(s)");
        DropBuffer();
        _seed = s.Seed; _microSteps = s.MicroSteps; _stage = s.Stage; _position = s.Position; _rolloutBatches = s.RolloutBatches;
        if (s.Buffer is { } b && !_shard.IsSplit)                 // a rank's share of a 1-process buffer is not its own rollouts
        {
            try { _buffer = Buffer.FromState(b); }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            { throw new CheckpointException($"the GRPO rollout buffer of the checkpoint is corrupt ({e.Message})"); }
        }
    }

    private void DropBuffer()
    {
        _buffer?.Dispose();
        _buffer = null;
        _lastTrainExit = null;
    }

    private sealed record State(ulong Seed, long MicroSteps, int Stage, long Position, long RolloutBatches, BufferState? Buffer);

    /// <summary>A rollout buffer as text: tensors as base64 of their bytes (exact), the schedule and where it stands.</summary>
    private sealed record BufferState(int Rows, int PromptWidth, int ResponseWidth, string Ids, string Attention, string ResponseMask,
        string OldLogProbs, string? RefLogProbs, string Advantages, IReadOnlyList<long[]> Schedule, int Next, Dictionary<string, double> Metrics);

    /// <summary>A rollout batch kept across Steps (outside every dispose scope) and where its minibatch schedule stands.</summary>
    private sealed class Buffer(GrpoMinibatch data, IReadOnlyList<long[]> schedule, Dictionary<string, double> metrics) : IDisposable
    {
        public IReadOnlyList<long[]> Schedule { get; } = schedule;
        public IReadOnlyDictionary<string, double> Metrics { get; } = metrics;
        public int Next { get; set; }

        /// <summary>Rows <paramref name="index"/> of every tensor (in the caller's dispose scope).</summary>
        public GrpoMinibatch Select(Tensor index)
        {
            var t = data.Tokens;
            return new GrpoMinibatch(
                new PackedRollouts(t.Ids.index_select(0, index), t.AttentionMask.index_select(0, index), t.ResponseMask.index_select(0, index), t.PromptWidth),
                data.OldLogProbs.index_select(0, index), data.RefLogProbs?.index_select(0, index), data.Advantages.index_select(0, index));
        }

        public BufferState ToState()
        {
            var t = data.Tokens;
            return new BufferState((int)t.Ids.shape[0], t.PromptWidth, t.ResponseWidth, Bytes<long>(t.Ids), Bytes<long>(t.AttentionMask), Bytes<float>(t.ResponseMask),
                Bytes<float>(data.OldLogProbs), data.RefLogProbs is { } r ? Bytes<float>(r) : null, Bytes<float>(data.Advantages),
                Schedule, Next, new Dictionary<string, double>(Metrics));
        }

        public static Buffer FromState(BufferState s)
        {
            long n = s.Rows, w = s.PromptWidth + s.ResponseWidth, r = s.ResponseWidth;
            var packed = new PackedRollouts(Tensor<long>(s.Ids, [n, w]), Tensor<long>(s.Attention, [n, w]), Tensor<float>(s.ResponseMask, [n, r]), s.PromptWidth);
            var data = new GrpoMinibatch(packed, Tensor<float>(s.OldLogProbs, [n, r]), s.RefLogProbs is { } refs ? Tensor<float>(refs, [n, r]) : null, Tensor<float>(s.Advantages, [n]));
            return new Buffer(data, s.Schedule, s.Metrics) { Next = s.Next };
        }

        private static string Bytes<T>(Tensor t) where T : unmanaged => Convert.ToBase64String(MemoryMarshal.AsBytes(t.contiguous().data<T>().ToArray().AsSpan()));

        private static Tensor Tensor<T>(string base64, long[] shape) where T : unmanaged
        {
            var values = MemoryMarshal.Cast<byte, T>(Convert.FromBase64String(base64)).ToArray();
            if (values.Length != shape.Aggregate(1L, (a, b) => a * b)) throw new FormatException($"{values.Length} values for shape [{string.Join(", ", shape)}]");
            return typeof(T) == typeof(long) ? tensor((long[])(object)values, shape) : tensor((float[])(object)values, shape);
        }

        public void Dispose()
        {
            data.Tokens.Ids.Dispose(); data.Tokens.AttentionMask.Dispose(); data.Tokens.ResponseMask.Dispose();
            data.OldLogProbs.Dispose(); data.RefLogProbs?.Dispose(); data.Advantages.Dispose();
        }
    }
}

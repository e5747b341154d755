using SharpSeek.Data.Tasks;
using SharpSeek.Generation;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Evaluation;

/// <summary>How a task prompt is shown to the model: plain text (<see cref="TaskExport.PlainPrompt"/>, decoding stops at a blank line) or one user turn of a chat template.</summary>
public enum PromptFormat { Plain, Chat }

/// <summary>One generated completion for a task and its rule-based score (1 = correct final answer).</summary>
public sealed record TaskOutput(string Prompt, string Answer, string Completion, double Score, string FinishReason)
{
    /// <summary>The generated token ids (prompt excluded), when the output came from <see cref="TaskAccuracy.Measure"/>.</summary>
    public IReadOnlyList<int>? CompletionIds { get; init; }
}

/// <summary>Exact-match accuracy: <see cref="Correct"/> of <see cref="Total"/> completions scored 1.</summary>
public sealed record TaskAccuracyResult(int Correct, int Total, IReadOnlyList<TaskOutput> Outputs)
{
    /// <summary>Accuracy in percent (0 for an empty set).</summary>
    public double Percent => Total == 0 ? 0 : 100.0 * Correct / Total;

    /// <summary>Percent of completions in R1's format (<see cref="Reward.Format"/>: think block, then one answer tag and nothing after).</summary>
    public double FormatPercent => Total == 0 ? 0 : 100.0 * Outputs.Count(o => Reward.Format(o.Completion) == 1.0) / Total;
}

/// <summary>
/// Held-out exact-match accuracy on a verifiable task (the metric of GSM8K, Cobbe et al. 2021, and of DeepSeek-R1's rule
/// rewards): the model completes each test prompt (batched generation with a KV cache), the task's rule
/// (<see cref="ITaskGenerator.Score"/>, by default <see cref="Reward.Correctness"/>) checks the final answer.
/// </summary>
public sealed class TaskAccuracy
{
    private readonly CausalLM _model;
    private readonly ITextTokenizer _tokenizer;
    private readonly PromptFormat _format;
    private readonly IChatTemplate? _template;

    /// <summary>
    /// A scorer for <paramref name="model"/>. <see cref="PromptFormat.Chat"/> renders each prompt as one user turn of
    /// <paramref name="template"/> (default ChatML) with the generation prompt and stops at its end-of-turn token; the
    /// tokenizer must already hold the template's special tokens.
    /// </summary>
    public TaskAccuracy(CausalLM model, ITextTokenizer tokenizer, PromptFormat format, IChatTemplate? template = null)
    {
        _model = model;
        _tokenizer = tokenizer;
        _format = format;
        _template = format == PromptFormat.Chat ? template ?? ChatTemplates.Default : null;
        _template?.EnsureExpressible(tokenizer);
    }

    /// <summary>
    /// True when <paramref name="result"/> is a finished turn that a chat template can hold as an assistant message: it
    /// stopped at the end of turn (chat) or at the stop string (plain), not at max_new_tokens, and its text holds no special
    /// token of the template (a sample that wrote <c>&lt;|im_start|&gt;</c> where <c>&lt;|im_end|&gt;</c> belongs is not).
    /// Preference pairs are built from such samples only.
    /// </summary>
    public bool IsWellFormed(GenerationResult result) =>
        result.FinishReason != FinishReason.Length
        && (_template is null || !_template.SpecialTokens.Any(t => result.Text.Contains(t, StringComparison.Ordinal)));

    /// <summary>
    /// The prompt format a model folder's tokenizer suits: <see cref="PromptFormat.Chat"/> when it encodes each special token
    /// of <paramref name="template"/> as one id (a model fine-tuned on chat), else <see cref="PromptFormat.Plain"/>.
    /// </summary>
    public static PromptFormat Detect(ITextTokenizer tokenizer, IChatTemplate template) =>
        template.SpecialTokens.All(t => AddedTokensTokenizer.ExistingId(tokenizer, t) is not null) ? PromptFormat.Chat : PromptFormat.Plain;

    /// <summary>
    /// <paramref name="options"/> as used for task prompts: chat stops at the template's end-of-turn token, plain text at
    /// <see cref="TaskExport.SampleSeparator"/> (added to any stop strings given).
    /// </summary>
    public GenerationOptions Options(GenerationOptions options) => _format == PromptFormat.Chat
        ? _template!.ForChat(_tokenizer, options)
        : options with { StopStrings = [.. options.StopStrings ?? [], TaskExport.SampleSeparator] };

    /// <summary>Token ids of <paramref name="prompt"/> in this scorer's format.</summary>
    public IReadOnlyList<int> PromptIds(string prompt) => _format == PromptFormat.Chat
        ? _template!.RenderIds(_tokenizer, [new ChatMessage(ChatMessage.User, prompt)], addGenerationPrompt: true)
        : _tokenizer.Encode(TaskExport.PlainPrompt(prompt));

    /// <summary>
    /// <c>options.num_return_sequences</c> completions per prompt (grouped by prompt, in order), generated
    /// <paramref name="batchSize"/> prompts at a time. A sampling seed is offset per batch so batches differ.
    /// </summary>
    public IReadOnlyList<GenerationResult> Complete(IReadOnlyList<string> prompts, GenerationOptions options, int batchSize = 64)
    {
        if (batchSize < 1) throw new ConfigException($"batch size must be at least 1, not {batchSize}");
        var opts = Options(options);
        var generator = new Generator(_model, _tokenizer);
        var results = new List<GenerationResult>(prompts.Count * opts.NumReturnSequences);
        for (int start = 0, batch = 0; start < prompts.Count; start += batchSize, batch++)
        {
            var ids = prompts.Skip(start).Take(batchSize).Select(PromptIds).ToList();
            var batchOpts = opts.Seed is long seed ? opts with { Seed = seed + batch } : opts;
            results.AddRange(generator.Generate(ids, batchOpts).Select(r => r with { PromptIndex = r.PromptIndex + start }));
        }
        return results;
    }

    /// <summary>Generates one completion per example and scores them (see <see cref="Score"/>).</summary>
    public TaskAccuracyResult Measure(ITaskGenerator? task, IReadOnlyList<TaskExample> examples, GenerationOptions options, int batchSize = 64,
        TaskTemplate template = TaskTemplate.Plain)
    {
        var results = Complete(examples.Select(e => e.Prompt).ToList(), options with { NumReturnSequences = 1 }, batchSize);
        var scored = Score(task, examples, results.Select(r => r.Text).ToList(), results.Select(r => r.FinishReason.ToString()).ToList(), template);
        return scored with { Outputs = scored.Outputs.Select((o, i) => o with { CompletionIds = results[i].TokenIds }).ToList() };
    }

    /// <summary>
    /// How far this scorer's model has moved from <paramref name="reference"/> on its own outputs: the mean over outputs of
    /// Σ_t KL(π(·|s_t) ‖ π_ref(·|s_t)) along each completion, exact over the vocabulary at every completion position (as
    /// PPO's evaluation KL; greedy outputs are no samples of π, so a sampled estimate would not do). Outputs need
    /// <see cref="TaskOutput.CompletionIds"/> (from <see cref="Measure"/>); the reference must share the vocabulary.
    /// </summary>
    public double SequenceKl(CausalLM reference, IReadOnlyList<TaskOutput> outputs)
    {
        if (reference.VocabSize != _model.VocabSize)
            throw new ConfigException($"the reference's vocabulary ({reference.VocabSize} tokens) differs from the model's ({_model.VocabSize})");
        if (outputs.Count == 0) return 0;
        var rollouts = outputs.Select(o =>
        {
            var prompt = PromptIds(o.Prompt);
            var completion = o.CompletionIds ?? throw new ArgumentException("outputs need their completion ids (from Measure)", nameof(outputs));
            return new Rollout(o.Prompt, o.Completion, o.Answer, [.. prompt, .. completion], prompt.Count);
        }).ToList();
        bool wasTraining = _model.training, refTraining = reference.training;
        _model.eval(); reference.eval();
        try
        {
            using var _ = TorchSharp.torch.no_grad();
            using var scope = TorchSharp.torch.NewDisposeScope();
            var packed = PpoObjective.Pack(rollouts, padId: 0);                      // padding is masked out
            return RolloutSampling.ExactKl(_model, reference, packed).Sum / outputs.Count;
        }
        finally { _model.train(wasTraining); reference.train(refTraining); }
    }

    /// <summary>
    /// Scores <paramref name="completions"/>[i] against <paramref name="examples"/>[i] with <paramref name="task"/>'s rule (null:
    /// <see cref="Reward.Correctness"/>, e.g. GSM8K); a completion counts as correct when its score is 1. Under an R1
    /// <paramref name="template"/> the answer must be the one <c>&lt;answer&gt;</c> tag (<see cref="Reward.TaggedScore"/>).
    /// </summary>
    public static TaskAccuracyResult Score(ITaskGenerator? task, IReadOnlyList<TaskExample> examples, IReadOnlyList<string> completions,
        IReadOnlyList<string>? finishReasons = null, TaskTemplate template = TaskTemplate.Plain)
    {
        if (completions.Count != examples.Count)
            throw new ArgumentException($"{completions.Count} completions for {examples.Count} examples", nameof(completions));
        var outputs = new List<TaskOutput>(examples.Count);
        for (int i = 0; i < examples.Count; i++)
        {
            double score = ScoreOne(task, examples[i], completions[i], template);
            outputs.Add(new TaskOutput(examples[i].Prompt, examples[i].Answer, completions[i], score, finishReasons?[i] ?? ""));
        }
        return new TaskAccuracyResult(outputs.Count(o => o.Score == 1.0), outputs.Count, outputs);
    }

    /// <summary>
    /// The rule score of one completion: the task's own check, or <see cref="Reward.Correctness"/> without a task; under an R1
    /// <paramref name="template"/> the strict tagged answer (<see cref="Reward.TaggedScore"/>).
    /// </summary>
    public static double ScoreOne(ITaskGenerator? task, TaskExample example, string completion, TaskTemplate template = TaskTemplate.Plain) =>
        template != TaskTemplate.Plain ? Reward.TaggedScore(task, example, completion)
        : task?.Score(example, completion) ?? Reward.Correctness(completion, example.Answer);
}

using System.Diagnostics;
using System.Text.Json.Serialization;
using SharpSeek.Checkpoints;
using SharpSeek.Data;
using SharpSeek.Data.Tasks;
using SharpSeek.Generation;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using TorchSharp;

namespace SharpSeek.Evaluation.Suite;

/// <summary>One task's outcome: its metric (perplexity: lower is better; accuracy %: higher), or why it was skipped.</summary>
public sealed record SuiteTaskResult
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("kind")] public required string Kind { get; init; }
    [JsonPropertyName("source")] public required string Source { get; init; }
    [JsonPropertyName("metric")] public required string Metric { get; init; }
    [JsonPropertyName("value")] public double? Value { get; init; }
    [JsonPropertyName("bits_per_char")] public double? BitsPerChar { get; init; }
    [JsonPropertyName("n")] public int N { get; init; }
    [JsonPropertyName("seed")] public ulong Seed { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }

    /// <summary>Skipped-task reason, or what was left out (characters the tokenizer cannot encode).</summary>
    [JsonPropertyName("note")] public string? Note { get; init; }
}

/// <summary>A suite run on one model: the model, the suite as run (config and seeds), every task's result.</summary>
public sealed record SuiteResult
{
    [JsonPropertyName("suite")] public required SuiteConfig Suite { get; init; }
    [JsonPropertyName("model")] public required string Model { get; init; }
    [JsonPropertyName("model_type")] public required string ModelType { get; init; }
    [JsonPropertyName("prompt_format")] public required string PromptFormat { get; init; }
    [JsonPropertyName("bf16")] public bool Bf16 { get; init; }
    [JsonPropertyName("created_utc")] public required DateTime CreatedUtc { get; init; }
    [JsonPropertyName("results")] public required IReadOnlyList<SuiteTaskResult> Results { get; init; }
}

/// <summary>Where a suite's sources come from: files under <see cref="DataDir"/>, and the fetchable corpora through <see cref="FetchCorpus"/>.</summary>
public sealed record SuiteRunOptions
{
    /// <summary>Folder that relative source paths are read from.</summary>
    public string DataDir { get; init; } = ".";

    /// <summary>Returns the text file of a known corpus (moby-dick, sotu, kjv, tang-poems), fetching it when needed; null = local files only.</summary>
    public Func<string, string>? FetchCorpus { get; init; }

    /// <summary>Run matmuls in bf16.</summary>
    public bool Bf16 { get; init; }

    /// <summary>Prompts per generation batch, windows per perplexity batch.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Called with each finished task (progress output).</summary>
    public Action<SuiteTaskResult>? OnTask { get; init; }
}

/// <summary>
/// Runs an evaluation suite on one model folder: each task is scored independently with fixed seeds; a task whose data is
/// missing or that the tokenizer cannot express is recorded as skipped with the reason, so one run always gives a full table.
/// </summary>
public sealed class SuiteRunner
{
    private readonly SuiteRunOptions _options;
    private readonly Dictionary<string, string> _texts = new(StringComparer.Ordinal);

    public SuiteRunner(SuiteRunOptions options) { _options = options; }

    public SuiteResult Run(SuiteConfig suite, string modelDir)
    {
        if (!Directory.Exists(modelDir)) throw new CheckpointException($"model folder {modelDir} does not exist");
        var tokenizer = TokenizerLoader.Load(modelDir);
        var template = ChatTemplates.FromFolder(modelDir);
        var format = TaskAccuracy.Detect(tokenizer, template);
        using var lm = ModelLoader.Load(modelDir);
        lm.eval();
        if (_options.Bf16) lm.ComputeDType = torch.ScalarType.BFloat16;
        var scorer = new TaskAccuracy(lm, tokenizer, format, template);
        var results = new List<SuiteTaskResult>();
        foreach (var task in suite.Tasks)
        {
            var clock = Stopwatch.StartNew();
            SuiteTaskResult r;
            try { r = RunTask(task, lm, tokenizer, scorer); }
            catch (SharpSeekException e) { r = Result(task, null, e.Message); }
            r = r with { Seconds = clock.Elapsed.TotalSeconds };
            results.Add(r);
            _options.OnTask?.Invoke(r);
        }
        return new SuiteResult
        {
            Suite = suite, Model = modelDir, ModelType = lm.ModelType, PromptFormat = format.ToString().ToLowerInvariant(),
            Bf16 = _options.Bf16, CreatedUtc = DateTime.UtcNow, Results = results,
        };
    }

    private SuiteTaskResult RunTask(SuiteTask task, CausalLM lm, ITextTokenizer tokenizer, TaskAccuracy scorer)
    {
        switch (task.Kind)
        {
            case SuiteTask.Perplexity:
            {
                var (text, note) = Encodable(SuiteScoring.HeldOutTail(Text(task.Source), task.Chars), tokenizer);
                var ids = tokenizer.Encode(text);
                int block = task.BlockSize > 0 ? Math.Min(task.BlockSize, lm.MaxSequenceLength) : lm.MaxSequenceLength;
                var e = Evaluator.Sequential(lm, ids, block, _options.BatchSize);
                return Result(task, SuiteScoring.Perplexity(e.Loss), note) with { BitsPerChar = SuiteScoring.BitsPerChar(e.Loss, e.Tokens, text.Length), N = (int)e.Tokens };
            }
            case SuiteTask.Choice:
            {
                var items = task.Source.StartsWith("cloze:", StringComparison.Ordinal)
                    ? ChoiceItems.NextLineCloze(Encodable(SuiteScoring.HeldOutTail(Text(task.Source["cloze:".Length..]), task.Chars), tokenizer).Text, task.N, task.Seed)
                    : ChoiceItems.ReadJsonl(Resolve(task.Source)).Take(task.N).ToList();
                int correct = items.Count(item => SuiteScoring.Argmax(LogLikelihood.Choices(lm, tokenizer, item)) == item.Label);
                return Result(task, SuiteScoring.Percent(correct, items.Count), null) with { N = items.Count };
            }
            case SuiteTask.Generation:
            {
                var generator = SuiteConfig.Generator(task.Source);
                var examples = TaskExport.Examples(generator, TaskExport.ParseLevels(task.Levels, generator), TaskSplit.Test, task.N, task.Seed);
                return Generate(task, generator, examples, lm, scorer);
            }
            default:
            {
                var examples = Gsm8kReader.Read(Resolve(task.Source)).Take(task.N).ToList();
                return Generate(task, null, examples, lm, scorer);
            }
        }
    }

    /// <summary>Greedy completions of the examples scored by exact match (the task's rule or the number after ####).</summary>
    private SuiteTaskResult Generate(SuiteTask task, ITaskGenerator? generator, IReadOnlyList<TaskExample> examples, CausalLM lm, TaskAccuracy scorer)
    {
        int longest = examples.Max(e => scorer.PromptIds(e.Prompt).Count);
        int room = lm.MaxSequenceLength - longest;
        if (room < 1) throw new DataException($"prompts of {longest} tokens leave no room in the model's context of {lm.MaxSequenceLength}");
        var options = new GenerationOptions { MaxNewTokens = Math.Min(task.MaxTokens, room), DoSample = false, TopK = 0, Seed = (long)task.Seed };
        var r = scorer.Measure(generator, examples, options, _options.BatchSize);
        return Result(task, r.Percent, options.MaxNewTokens < task.MaxTokens ? $"max_tokens clipped to {options.MaxNewTokens}" : null) with { N = r.Total };
    }

    private static SuiteTaskResult Result(SuiteTask task, double? value, string? note) => new()
    {
        Name = task.Label, Kind = task.Kind, Source = task.Source, Metric = task.Kind == SuiteTask.Perplexity ? "perplexity" : "accuracy",
        Value = value, N = task.N, Seed = task.Seed, Note = note,
    };

    /// <summary>The text of a source (cached per run): a file under the data folder, or a fetchable corpus.</summary>
    private string Text(string source)
    {
        if (_texts.TryGetValue(source, out var t)) return t;
        string path = Resolve(source);
        try { t = File.ReadAllText(path, AtomicFiles.StrictUtf8); }
        catch (System.Text.DecoderFallbackException) { throw new DataException($"{path} is not UTF-8 text"); }
        return _texts[source] = t;
    }

    /// <summary>The file a source names: an existing path (absolute or under the data folder), else a known corpus fetched.</summary>
    private string Resolve(string source)
    {
        string local = Path.IsPathRooted(source) ? source : Path.Combine(_options.DataDir, source);
        if (File.Exists(local)) return local;
        if (CorpusFetcher.Known.Any(k => k.Name == source))
        {
            if (_options.FetchCorpus is null) throw new DataException($"corpus {source} is not in {_options.DataDir} and fetching is off");
            return _options.FetchCorpus(source);
        }
        throw new DataException($"source {source} is neither a file under {_options.DataDir} nor a fetchable corpus");
    }

    /// <summary>
    /// <paramref name="text"/> without the characters <paramref name="tokenizer"/> cannot encode (e.g. a char-level model on
    /// another corpus), with a note of how many were dropped; the text unchanged when it all encodes. Throws
    /// <see cref="DataException"/> when more than 10% would be dropped (the score would describe another text).
    /// </summary>
    public static (string Text, string? Note) Encodable(string text, ITextTokenizer tokenizer)
    {
        try { tokenizer.Encode(text); return (text, null); }
        catch (TokenizerException) { }
        var bad = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rune in text.EnumerateRunes().Select(r => r.ToString()).Distinct())
        {
            try { tokenizer.Encode(rune); }
            catch (TokenizerException) { bad.Add(rune); }
        }
        var kept = string.Concat(text.EnumerateRunes().Select(r => r.ToString()).Where(r => !bad.Contains(r)));
        if (kept.Length < 0.9 * text.Length)
            throw new DataException($"the tokenizer can encode only {kept.Length} of the {text.Length} characters (at least 90% are needed)");
        return (kept, $"{text.Length - kept.Length} of {text.Length} characters ({bad.Count} distinct) not in the vocabulary were dropped");
    }
}

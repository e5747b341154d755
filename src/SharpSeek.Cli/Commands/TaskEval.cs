using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using SharpSeek.Checkpoints;
using SharpSeek.Data.Tasks;
using SharpSeek.Evaluation;
using SharpSeek.Generation;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using TorchSharp;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// The task options shared by <c>eval --task</c> and <c>data pairs</c> (task, levels, decoding, prompt format), and the
/// <c>eval --task</c> action: exact-match accuracy on the fixed held-out test prompts, printed and optionally written as JSON.
/// </summary>
internal sealed class TaskEval
{
    public Option<string?> Task { get; } = new("--task") { Description = $"Verifiable task to score: {string.Join(", ", TaskGenerators.All.Select(g => g.Name))} or gsm8k (with --gsm8k-file)." };
    public Option<string> Levels { get; } = new("--levels") { Description = "Task levels, e.g. 2,3 or 1-3.", DefaultValueFactory = _ => "2,3" };
    public Option<int> Count { get; } = new("--count") { Description = "Prompts to use (eval and --split test: the fixed held-out set, distinct test-split prompts from seed 0).", DefaultValueFactory = _ => 200 };
    public Option<bool> Sample { get; } = new("--sample") { Description = "Sample (at --temperature, no top-k) instead of greedy decoding." };
    public Option<double> Temperature { get; } = new("--temperature") { Description = "Sampling temperature (with --sample).", DefaultValueFactory = _ => 1.0 };
    public Option<long> Seed { get; } = new("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
    public Option<bool> Chat { get; } = new("--chat") { Description = "Render prompts as one user turn of the model folder's chat template (default when its tokenizer has the template's special tokens)." };
    public Option<bool> Plain { get; } = new("--plain") { Description = "Plain prompts: the question and a newline; decoding stops at a blank line (default for a tokenizer without chat tokens)." };
    public Option<int> MaxNewTokens { get; } = new("--max-new-tokens") { Description = "Most tokens per completion; 0 = as many as the context allows, at most 256.", DefaultValueFactory = _ => 0 };
    public Option<string?> Gsm8kFile { get; } = new("--gsm8k-file") { Description = "For --task gsm8k: GSM8K test.jsonl (its first --count questions are scored)." };
    public Option<string> Template { get; } = new("--template") { Description = "Task layout the model was trained on: plain, r1 (answers scored strictly from the one <answer> tag; format rate reported) or r1-table1 (r1 after DeepSeek-R1-Zero's Table 1 prompt).", DefaultValueFactory = _ => "plain" };
    public Option<string?> Json { get; } = new("--json") { Description = "Write the accuracy and every prompt, completion and score to this JSON file." };

    public static TaskEval Options() => new();

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Task, Levels, Count, Sample, Temperature, Seed, Chat, Plain, MaxNewTokens, Gsm8kFile, Template, Json })
            command.Options.Add(o);
    }

    /// <summary>The generator named by --task (null for gsm8k, scored by <see cref="Reward.Correctness"/>) and the examples to use.</summary>
    public (ITaskGenerator? Generator, IReadOnlyList<int> Levels) Resolve(ParseResult parse)
    {
        string name = parse.GetValue(Task) ?? throw new ConfigException("give --task");
        if (name == "gsm8k") return (null, []);
        var generator = TaskGenerators.ByName(name);
        return (generator, TaskExport.ParseLevels(parse.GetValue(Levels)!, generator));
    }

    /// <summary>The task layout of --template.</summary>
    public TaskTemplate Layout(ParseResult parse) => R1Template.ParseTemplate(parse.GetValue(Template)!);

    /// <summary>Test examples for --task: the fixed held-out set, or GSM8K's file, laid out as --template says.</summary>
    public IReadOnlyList<TaskExample> TestExamples(ParseResult parse, ITaskGenerator? generator, IReadOnlyList<int> levels, int count)
    {
        if (count < 1) throw new ConfigException($"--count must be at least 1, not {count}");
        var layout = Layout(parse);
        if (generator is not null) return TaskExport.TestSet(generator, levels, count).Select(e => R1Template.Apply(e, layout)).ToList();
        string file = parse.GetValue(Gsm8kFile) ?? throw new ConfigException("--task gsm8k needs --gsm8k-file (GSM8K test.jsonl)");
        return Gsm8kReader.Read(file).Take(count).Select(e => R1Template.Apply(e, layout)).ToList();
    }

    /// <summary>The model, its tokenizer and a scorer in the prompt format asked for (or detected from the tokenizer).</summary>
    public (CausalLM Model, TaskAccuracy Scorer, PromptFormat Format) Open(ParseResult parse, string modelDir, bool bf16)
    {
        if (parse.GetValue(Chat) && parse.GetValue(Plain)) throw new ConfigException("give --chat or --plain, not both");
        if (!Directory.Exists(modelDir)) throw new CheckpointException($"model folder {modelDir} does not exist");
        var tokenizer = TokenizerLoader.Load(modelDir);
        var template = ChatTemplates.FromFolder(modelDir);
        var format = parse.GetValue(Chat) ? PromptFormat.Chat : parse.GetValue(Plain) ? PromptFormat.Plain : TaskAccuracy.Detect(tokenizer, template);
        var lm = ModelLoader.Load(modelDir);
        if (bf16) lm.ComputeDType = torch.ScalarType.BFloat16;
        return (lm, new TaskAccuracy(lm, tokenizer, format, template), format);
    }

    /// <summary>Decoding options: greedy or sampling at --temperature (top-k off), max_new_tokens fitted to the longest prompt.</summary>
    public GenerationOptions Generation(ParseResult parse, CausalLM model, TaskAccuracy scorer, IEnumerable<string> prompts, bool sample)
    {
        double temperature = parse.GetValue(Temperature);
        if (sample && !(temperature > 0)) throw new ConfigException($"--temperature must be above 0 for sampling, not {temperature}");
        int longest = prompts.Max(p => scorer.PromptIds(p).Count);
        int room = model.MaxSequenceLength - longest;
        int maxNew = parse.GetValue(MaxNewTokens);
        if (maxNew < 0) throw new ConfigException($"--max-new-tokens must be 0 (auto) or more, not {maxNew}");
        if (maxNew == 0) maxNew = Math.Min(256, room);
        if (maxNew < 1 || maxNew > room) throw new ConfigException($"prompts of {longest} tokens leave {room} of the model's {model.MaxSequenceLength} for the completion; --max-new-tokens {maxNew} does not fit");
        return new GenerationOptions
        {
            MaxNewTokens = maxNew, DoSample = sample, Temperature = sample ? temperature : 1.0, TopK = 0, Seed = parse.GetValue(Seed),
        };
    }

    /// <summary>The <c>eval --task</c> action.</summary>
    public int Run(ParseResult parse, TextWriter stdout, string modelDir, int batchSize, bool bf16)
    {
        int batch = batchSize == 0 ? 64 : batchSize;
        if (batch < 0) throw new ConfigException($"--batch-size must be positive, got {batch}");
        var (generator, levels) = Resolve(parse);
        var examples = TestExamples(parse, generator, levels, parse.GetValue(Count));
        var (lm, scorer, format) = Open(parse, modelDir, bf16);
        bool sample = parse.GetValue(Sample);
        var options = Generation(parse, lm, scorer, examples.Select(e => e.Prompt), sample);
        var clock = Stopwatch.StartNew();
        var layout = Layout(parse);
        var result = scorer.Measure(generator, examples, options, batch, layout);
        double seconds = clock.Elapsed.TotalSeconds;
        string decoding = sample ? string.Create(CultureInfo.InvariantCulture, $"sampled at temperature {options.Temperature}") : "greedy";
        string task = parse.GetValue(Task)!;
        string formatNote = layout == TaskTemplate.Plain ? "" : string.Create(CultureInfo.InvariantCulture, $"; {R1Template.Name(layout)} format {result.FormatPercent:F1}%");
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{task} accuracy {result.Percent:F1}% ({result.Correct}/{result.Total}, {decoding}, {format.ToString().ToLowerInvariant()} prompts, {seconds:F1} s)") + formatNote);
        if (parse.GetValue(Json) is { } jsonPath)
            WriteJson(jsonPath, new
            {
                model = modelDir, task, levels, count = result.Total, format = format.ToString().ToLowerInvariant(),
                decoding = sample ? "sample" : "greedy", temperature = sample ? options.Temperature : 0.0, seed = options.Seed,
                max_new_tokens = options.MaxNewTokens, accuracy = result.Percent, correct = result.Correct, total = result.Total,
                template = R1Template.Name(layout), format_rate = result.FormatPercent,
                seconds,
                outputs = result.Outputs.Select(o => new { prompt = o.Prompt, answer = o.Answer, completion = o.Completion, score = o.Score, finish_reason = o.FinishReason }),
            });
        return 0;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes <paramref name="value"/> as indented JSON, atomically.</summary>
    internal static void WriteJson(string path, object value) => AtomicFiles.WriteText(path, JsonSerializer.Serialize(value, JsonOptions) + "\n");
}

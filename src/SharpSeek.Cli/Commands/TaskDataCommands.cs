using System.CommandLine;
using System.Globalization;
using SharpSeek.Data.Tasks;
using SharpSeek.Evaluation;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek data tasks</c> (verifiable task sets as pretraining text, SFT JSONL or prompt JSONL) and <c>sharpseek data
/// pairs</c> (preference pairs from a model's own samples, scored by rule): the data stages of the alignment pipeline.
/// </summary>
public static class TaskDataCommands
{
    /// <summary>"train" or "test".</summary>
    internal static TaskSplit ParseSplit(string text) => text switch
    {
        "train" => TaskSplit.Train,
        "test" => TaskSplit.Test,
        _ => throw new ConfigException($"--split must be train or test, not '{text}'"),
    };

    internal static CompletionStyle ParseStyle(string text) => text switch
    {
        "work" => CompletionStyle.Work,
        "answer" => CompletionStyle.Answer,
        _ => throw new ConfigException($"--completion must be work or answer, not '{text}'"),
    };

    public static Command Tasks()
    {
        var task = new Option<string>("--task") { Description = $"Task: {string.Join(", ", TaskGenerators.All.Select(g => g.Name))} or gsm8k.", DefaultValueFactory = _ => "arithmetic" };
        var levels = new Option<string>("--levels") { Description = "Levels, e.g. 2,3 or 1-3 (generated tasks).", DefaultValueFactory = _ => "2,3" };
        var split = new Option<string>("--split") { Description = "train or test (TaskSplits; test prompts never reach a train export). test writes the fixed held-out set that eval --task scores (distinct prompts, seed 0; --seed ignored).", DefaultValueFactory = _ => "train" };
        var count = new Option<int>("--count") { Description = "Examples to write (gsm8k: at most this many, 0 = all).", DefaultValueFactory = _ => 1000 };
        var format = new Option<string>("--format") { Description = "text (pretraining text: prompt line, completion, blank line), sft ({\"messages\"} JSONL), prompts ({\"prompt\",\"answer\"} JSONL).", DefaultValueFactory = _ => "text" };
        var completion = new Option<string>("--completion") { Description = "work (the worked solution ending in #### answer) or answer (only the #### answer line).", DefaultValueFactory = _ => "work" };
        var seed = new Option<long>("--seed") { Description = "Seed of the task stream.", DefaultValueFactory = _ => 1 };
        var distinct = new Option<bool>("--distinct") { Description = "No prompt repeats within a level (test sets are always distinct)." };
        var gsm8k = new Option<string?>("--gsm8k-file") { Description = "For --task gsm8k: the GSM8K JSONL file (its own train/test file is the split)." };
        var template = new Option<string>("--template") { Description = "plain (question, worked solution ending in #### answer), r1 (question, then <think>work</think> and <answer>answer</answer>) or r1-table1 (r1 after DeepSeek-R1-Zero's Table 1 prompt).", DefaultValueFactory = _ => "plain" };
        var output = new Option<string>("--out") { Description = "File to write.", Required = true };
        var command = new Command("tasks", "Write a verifiable task set (arithmetic, letters, linear, countdown, gsm8k) as pretraining text, SFT JSONL or prompt JSONL.")
        {
            task, levels, split, count, format, completion, template, seed, distinct, gsm8k, output,
        };
        command.SetSafeAction((parse, stdout) =>
        {
            var style = ParseStyle(parse.GetValue(completion)!);
            var layout = R1Template.ParseTemplate(parse.GetValue(template)!);
            var s = ParseSplit(parse.GetValue(split)!);
            string? taskName = null;
            int n = parse.GetValue(count);
            IReadOnlyList<TaskExample> examples;
            if (parse.GetValue(task) == "gsm8k")
            {
                string file = parse.GetValue(gsm8k) ?? throw new ConfigException("--task gsm8k needs --gsm8k-file (GSM8K train.jsonl or test.jsonl)");
                var all = Gsm8kReader.Read(file, stripAnnotations: true);
                examples = (n > 0 ? all.Take(n) : all).Select(e => TaskExport.WithStyle(e, style)).ToList();
            }
            else
            {
                var generator = TaskGenerators.ByName(parse.GetValue(task)!);
                taskName = generator.Name;
                var lv = TaskExport.ParseLevels(parse.GetValue(levels)!, generator);
                examples = s == TaskSplit.Test
                    ? TaskExport.TestSet(generator, lv, n).Select(e => TaskExport.WithStyle(e, style)).ToList()
                    : TaskExport.Examples(generator, lv, s, n, unchecked((ulong)parse.GetValue(seed)), parse.GetValue(distinct), style);
            }
            examples = examples.Select(e => R1Template.Apply(e, layout)).ToList();
            string outPath = parse.GetValue(output)!;
            switch (parse.GetValue(format))
            {
                case "text": TaskExport.WriteText(outPath, examples); break;
                case "sft": SftJsonlWriter.WriteMessages(outPath, examples); break;
                case "prompts": TaskExport.WritePrompts(outPath, examples, taskName); break;
                default: throw new ConfigException($"--format must be text, sft or prompts, not '{parse.GetValue(format)}'");
            }
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{outPath}: {examples.Count:N0} {parse.GetValue(task)} examples ({parse.GetValue(split)} split, {parse.GetValue(format)}, completion {parse.GetValue(completion)}, template {parse.GetValue(template)})"));
            return 0;
        });
        return command;
    }

    public static Command Pairs()
    {
        var model = new Option<string>("--model") { Description = "Model folder whose own samples are scored (e.g. the SFT model).", Required = true };
        var opts = TaskEval.Options();
        var split = new Option<string>("--split") { Description = "train (distinct train-split prompts from --prompt-seed) or test (the fixed held-out set: for the reward model's held-out pair accuracy).", DefaultValueFactory = _ => "train" };
        var samples = new Option<int>("--samples") { Description = "Completions sampled per prompt.", DefaultValueFactory = _ => 8 };
        var maxPairs = new Option<int>("--max-pairs-per-prompt") { Description = "Most pairs from one prompt.", DefaultValueFactory = _ => 4 };
        var promptSeed = new Option<long>("--prompt-seed") { Description = "Seed of the train-split prompt stream.", DefaultValueFactory = _ => 2 };
        var batchSize = new Option<int>("--batch-size") { Description = "Prompts per generation batch (each gives --samples rows).", DefaultValueFactory = _ => 16 };
        var stats = new Option<string?>("--stats") { Description = "Write the counts (prompts, mixed prompts, pairs, sample accuracy) to this JSON file." };
        var output = new Option<string>("--out") { Description = "Preference JSONL to write: {\"prompt\", \"chosen\", \"rejected\"} per line.", Required = true };
        var command = new Command("pairs", "Sample completions from a model on task prompts, score them by rule, and write preference pairs (a correct sample chosen over a wrong one).")
        {
            model, split, samples, maxPairs, promptSeed, batchSize, stats, output,
        };
        opts.AddTo(command);
        command.SetSafeAction((parse, stdout) =>
        {
            var (generator, levels) = opts.Resolve(parse);
            if (generator is null) throw new ConfigException("data pairs needs a generated task (arithmetic, letters, linear, countdown)");
            int k = parse.GetValue(samples), n = parse.GetValue(opts.Count), batch = parse.GetValue(batchSize), cap = parse.GetValue(maxPairs);
            if (k < 2) throw new ConfigException($"--samples must be at least 2 to find a correct and a wrong completion, not {k}");
            if (batch < 1) throw new ConfigException($"--batch-size must be at least 1, not {batch}");
            if (cap < 1) throw new ConfigException($"--max-pairs-per-prompt must be at least 1, not {cap}");
            var s = ParseSplit(parse.GetValue(split)!);
            var layout = opts.Layout(parse);
            var examples = s == TaskSplit.Test
                ? opts.TestExamples(parse, generator, levels, n)
                : TaskExport.Examples(generator, levels, TaskSplit.Train, n, unchecked((ulong)parse.GetValue(promptSeed)), distinct: true)
                    .Select(e => R1Template.Apply(e, layout)).ToList();
            var (lm, scorer, format) = opts.Open(parse, parse.GetValue(model)!, bf16: false);
            var options = opts.Generation(parse, lm, scorer, examples.Select(e => e.Prompt), sample: true) with { NumReturnSequences = k };
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var results = scorer.Complete(examples.Select(e => e.Prompt).ToList(), options, batch);
            int malformed = results.Count(r => !scorer.IsWellFormed(r));                 // cut off, or a special token inside: no pair holds them
            var scored = examples.Select((e, i) =>
            {
                var texts = results.Skip(i * k).Take(k).Where(scorer.IsWellFormed).Select(r => r.Text).ToList();
                return new ScoredSamples(e.Prompt, texts, texts.Select(t => TaskAccuracy.ScoreOne(generator, e, t, layout)).ToList());
            }).ToList();
            var (pairs, counts) = PreferencePairs.Build(scored, cap);
            string outPath = parse.GetValue(output)!;
            PreferencePairs.Write(outPath, pairs);
            double seconds = clock.Elapsed.TotalSeconds, accuracy = counts.Samples == 0 ? 0 : 100.0 * counts.CorrectSamples / counts.Samples;   // of the well-formed samples
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{outPath}: {counts.Pairs:N0} pairs from {counts.MixedPrompts:N0} of {counts.Prompts:N0} prompts with a correct and a wrong sample; samples correct {accuracy:F1}% ({counts.CorrectSamples}/{counts.Samples}, temperature {options.Temperature}, {format.ToString().ToLowerInvariant()} prompts, {seconds:F1} s); {malformed} unfinished or malformed samples left out"));
            if (parse.GetValue(stats) is { } statsPath)
                TaskEval.WriteJson(statsPath, new
                {
                    model = parse.GetValue(model), task = parse.GetValue(opts.Task), levels, split = parse.GetValue(split), prompts = counts.Prompts,
                    samples_per_prompt = k, temperature = options.Temperature, mixed_prompts = counts.MixedPrompts, pairs = counts.Pairs, usable_samples = counts.Samples, malformed_samples = malformed,
                    sample_accuracy = accuracy, seconds,
                });
            return 0;
        });
        return command;
    }
}

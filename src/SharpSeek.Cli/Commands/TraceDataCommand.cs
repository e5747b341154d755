using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SharpSeek.Checkpoints;
using SharpSeek.Data.Prompts;
using SharpSeek.Data.Tasks;
using SharpSeek.Evaluation;
using SharpSeek.Generation;
using SharpSeek.Models;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek data traces</c>: reasoning distillation data (DeepSeek-R1 §2.3.3, §2.4): a teacher writes --samples solutions
/// per prompt of a prompt file, the rule checker keeps the correct ones (<see cref="ReasoningTraces"/>), and at most
/// --max-per-prompt of them per prompt are written as SFT JSONL that <c>sharpseek sft</c> reads.
/// </summary>
public static class TraceDataCommand
{
    public static Command Traces()
    {
        var model = new Option<string>("--model") { Description = "Teacher model folder that writes the solutions.", Required = true };
        var prompts = new Option<string>("--prompts") { Description = "Prompt JSONL: {\"prompt\", \"answer\"[, \"task\"]} per line (e.g. from data tasks --format prompts).", Required = true };
        var samples = new Option<int>("--samples") { Description = "Solutions sampled per prompt.", DefaultValueFactory = _ => 4 };
        var maxPerPrompt = new Option<int>("--max-per-prompt") { Description = "Most distinct accepted solutions kept per prompt.", DefaultValueFactory = _ => 1 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature (no top-k).", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<long>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var format = new Option<string>("--format") { Description = "Prompt format: auto (chat when the teacher's tokenizer has its chat template's tokens, else plain), plain or chat.", DefaultValueFactory = _ => "auto" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens per solution; 0 = as many as the context allows, at most 256.", DefaultValueFactory = _ => 0 };
        var batchSize = new Option<int>("--batch-size") { Description = "Prompts per generation batch (each gives --samples rows).", DefaultValueFactory = _ => 16 };
        var stats = new Option<string?>("--stats") { Description = "Write the counts (prompts, kept, teacher sample accuracy) to this JSON file." };
        var output = new Option<string>("--out") { Description = "SFT JSONL to write: {\"prompt\", \"completion\"} per line.", Required = true };
        var command = new Command("traces", "Reasoning distillation data: a teacher samples solutions to prompts, the rule checker keeps correct ones (R1 tags held to the strict format), written as SFT JSONL for sft.")
        {
            model, prompts, samples, maxPerPrompt, temperature, seed, format, maxNew, batchSize, stats, output,
        };
        command.SetSafeAction((parse, stdout) =>
        {
            int k = parse.GetValue(samples), cap = parse.GetValue(maxPerPrompt), batch = parse.GetValue(batchSize), maxNewTokens = parse.GetValue(maxNew);
            double temp = parse.GetValue(temperature);
            if (k < 1) throw new ConfigException($"--samples must be at least 1, not {k}");
            if (cap < 1) throw new ConfigException($"--max-per-prompt must be at least 1, not {cap}");
            if (batch < 1) throw new ConfigException($"--batch-size must be at least 1, not {batch}");
            if (!(temp > 0)) throw new ConfigException($"--temperature must be above 0, not {temp}");
            if (maxNewTokens < 0) throw new ConfigException($"--max-new-tokens must be 0 (auto) or more, not {maxNewTokens}");
            string formatName = parse.GetValue(format)!;
            if (formatName is not ("auto" or "plain" or "chat")) throw new ConfigException($"--format must be auto, plain or chat, not '{formatName}'");
            var examples = PromptFile.Read(parse.GetValue(prompts)!);
            foreach (var e in examples.Where(e => e.Task is not null)) TaskGenerators.ByName(e.Task!);   // an unknown task fails before generating
            string dir = parse.GetValue(model)!;
            if (!Directory.Exists(dir)) throw new CheckpointException($"model folder {dir} does not exist");

            var tokenizer = TokenizerLoader.Load(dir);
            var template = ChatTemplates.FromFolder(dir);
            var promptFormat = formatName switch { "chat" => PromptFormat.Chat, "plain" => PromptFormat.Plain, _ => TaskAccuracy.Detect(tokenizer, template) };
            var lm = ModelLoader.Load(dir);
            var scorer = new TaskAccuracy(lm, tokenizer, promptFormat, template);
            var texts = examples.Select(e => e.Prompt).ToList();
            int longest = texts.Max(p => scorer.PromptIds(p).Count), room = lm.MaxSequenceLength - longest;
            if (maxNewTokens == 0) maxNewTokens = Math.Min(256, room);
            if (maxNewTokens < 1 || maxNewTokens > room)
                throw new ConfigException($"prompts of {longest} tokens leave {room} of the model's {lm.MaxSequenceLength} for the completion; --max-new-tokens {maxNewTokens} does not fit");
            var options = new GenerationOptions
            {
                MaxNewTokens = maxNewTokens, DoSample = true, Temperature = temp, TopK = 0, Seed = parse.GetValue(seed), NumReturnSequences = k,
            };

            var clock = Stopwatch.StartNew();
            var results = scorer.Complete(texts, options, batch);
            var perPrompt = examples.Select((_, i) => (IReadOnlyList<(string, bool)>)results.Skip(i * k).Take(k).Select(r => (r.Text, scorer.IsWellFormed(r))).ToList()).ToList();
            var (traces, counts) = ReasoningTraces.Select(examples, perPrompt, cap);
            string outPath = parse.GetValue(output)!;
            double seconds = clock.Elapsed.TotalSeconds;
            if (parse.GetValue(stats) is { } statsPath)                              // written even when nothing is kept: the accuracy is the finding
                TaskEval.WriteJson(statsPath, new
                {
                    model = dir, prompts_file = parse.GetValue(prompts), prompts = counts.Prompts, checked_prompts = counts.CheckedPrompts,
                    samples_per_prompt = k, temperature = temp, format = promptFormat.ToString().ToLowerInvariant(), samples = counts.Samples,
                    usable_samples = counts.UsableSamples, accepted_samples = counts.AcceptedSamples, sample_accuracy = counts.SampleAccuracy,
                    prompts_with_trace = counts.PromptsWithTrace, kept = counts.Kept, max_per_prompt = cap, seconds,
                });
            if (traces.Count == 0)
                throw new DataException($"the teacher wrote no accepted solution for any of {counts.CheckedPrompts} checkable prompts ({counts.Samples} samples); nothing written to {outPath}");
            SftJsonlWriter.WritePromptCompletion(outPath, traces);
            string skipped = counts.CheckedPrompts < counts.Prompts ? $"; {counts.Prompts - counts.CheckedPrompts} prompts without answer or task skipped" : "";
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{outPath}: {counts.Kept:N0} traces from {counts.PromptsWithTrace:N0} of {counts.Prompts:N0} prompts; teacher samples accepted {counts.SampleAccuracy:F1}% ({counts.AcceptedSamples}/{counts.Samples}, temperature {temp}, {promptFormat.ToString().ToLowerInvariant()} prompts, {seconds:F1} s){skipped}"));
            return 0;
        });
        return command;
    }
}

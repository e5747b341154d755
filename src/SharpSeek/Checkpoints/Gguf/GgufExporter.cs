using System.Text.Json.Nodes;
using SharpSeek.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Checkpoints.Gguf;

/// <summary>What an export wrote: the file, llama.cpp architecture, tensor count, bytes, and notes (dropped layers, fallbacks).</summary>
public sealed record GgufExportResult(string Path, string Architecture, GgufType Type, int TensorCount, long Bytes, IReadOnlyList<string> Notes);

/// <summary>
/// Exports a model folder (config.json + safetensors + tokenizer) as a GGUF file llama.cpp (and Ollama) loads: GPT-2 as
/// architecture <c>gpt2</c>, DeepSeek-V3-style models as <c>deepseek2</c>. Weights are read from the safetensors files
/// under their Hugging Face names, after the family's own header validation. Everything is validated before anything is
/// written; the file is written to a temporary name next to <c>outPath</c> and renamed on success.
/// </summary>
public static partial class GgufExporter
{
    /// <summary>Exports <paramref name="modelDir"/> to <paramref name="outPath"/> with matrices stored as <paramref name="type"/>.</summary>
    public static GgufExportResult Export(string modelDir, string outPath, GgufType type = GgufType.F32)
    {
        if (Directory.Exists(outPath)) throw new ConfigException($"--out {outPath} is a folder; give a file name such as model.gguf");
        string modelType = ModelLoader.ReadModelType(modelDir);
        var configNode = JsonNode.Parse(File.ReadAllText(Path.Combine(modelDir, "config.json")));
        if (configNode?["quantization_config"] is not null)
            throw new ConfigException($"{modelDir}: config.json has a quantization_config; export from the unquantized float checkpoint");
        using var folder = CheckpointFolder.Open(modelDir);
        var notes = new List<string>();
        var (writer, arch) = modelType switch
        {
            "gpt2" => (Gpt2(modelDir, folder, type, notes), "gpt2"),
            "deepseek_v3" => (DeepSeek2(modelDir, folder, type, notes), "deepseek2"),
            _ => throw new ConfigException($"{modelDir}: model_type '{modelType}' has no GGUF export (gpt2 and deepseek_v3 have)"),
        };
        int fallbacks = writer.Tensors.Count(t => GgufTypes.IsQuantized(type) && t.Type == GgufType.F16);
        if (fallbacks > 0) notes.Add($"{fallbacks} matri{(fallbacks == 1 ? "x" : "ces")} with rows not divisible by 32 stored as f16 instead of {GgufTypes.Name(type)}");

        string full = Path.GetFullPath(outPath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                writer.Write(stream);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            throw;
        }
        return new GgufExportResult(full, arch, type, writer.Tensors.Count(), new FileInfo(full).Length, notes);
    }

    /// <summary>
    /// The stored type of one tensor when <paramref name="requested"/> is asked for (llama.cpp's quantizer rules): vectors
    /// (norms, biases), <c>position_embd</c> and the MoE router <c>ffn_gate_inp</c> stay f32; a matrix whose rows are not
    /// whole blocks of 32 falls back to f16 under q8_0 / q4_0; every other matrix takes <paramref name="requested"/>.
    /// </summary>
    public static GgufType TensorType(GgufType requested, string ggufName, long[] shape)
    {
        if (shape.Length == 1 || ggufName.StartsWith("position_embd.", StringComparison.Ordinal) || ggufName.Contains(".ffn_gate_inp.", StringComparison.Ordinal))
            return GgufType.F32;
        if (GgufTypes.IsQuantized(requested) && shape[^1] % GgufTypes.QuantBlock != 0) return GgufType.F16;
        return requested;
    }

    /// <summary>Adds a tensor with the type <see cref="TensorType"/> picks.</summary>
    private static void Add(GgufWriter w, GgufType requested, string name, long[] shape, Func<float[]> values) =>
        w.AddTensor(name, shape, TensorType(requested, name, shape), values);

    /// <summary>Float32 values of <paramref name="name"/>, optionally transformed (transposed, split…) first.</summary>
    private static float[] Values(CheckpointFolder folder, string name, Func<Tensor, Tensor>? transform = null)
    {
        using var scope = torch.NewDisposeScope();
        var t = folder.Load(name).to(ScalarType.Float32);
        if (transform is not null) t = transform(t);
        return t.contiguous().data<float>().ToArray();
    }

    /// <summary>Row-major float32 values of several same-shape tensors stacked along a new leading dim.</summary>
    private static float[] Stacked(CheckpointFolder folder, IReadOnlyList<string> names)
    {
        using var scope = torch.NewDisposeScope();
        var parts = names.Select(n => folder.Load(n).to(ScalarType.Float32)).ToArray();
        return torch.stack(parts, 0).contiguous().data<float>().ToArray();
    }

    private static void AddGeneral(GgufWriter w, string arch, string modelDir, GgufType type)
    {
        w.AddString("general.architecture", arch);
        w.AddString("general.name", Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd(Path.DirectorySeparatorChar)));
        w.AddUInt32("general.file_type", GgufTypes.FileType(type));
        if (GgufTypes.IsQuantized(type)) w.AddUInt32("general.quantization_version", 2);
    }
}

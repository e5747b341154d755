using SharpSeek.Checkpoints;
using SharpSeek.Models;
using SharpSeek.Tokenization;

namespace SharpSeek.Quantization;

/// <summary>Sizes of a <see cref="QuantizedFolder.Write"/>: the source's safetensors and the quantized model.safetensors, in bytes.</summary>
public sealed record QuantizedFolderResult(string ModelType, int QuantizedWeights, long SourceBytes, long QuantizedBytes);

/// <summary>A quantized copy of a model folder (what <c>sharpseek quantize</c> writes): config.json with quantization_config, model.safetensors, the tokenizer files.</summary>
public static class QuantizedFolder
{
    /// <summary>
    /// Loads the float model in <paramref name="modelDir"/>, quantizes it as <paramref name="config"/> says and writes the
    /// copy to <paramref name="outDir"/> (a new folder, filled under a temporary name and renamed). Everything is checked
    /// before anything is written: on an error nothing is.
    /// </summary>
    /// <exception cref="ConfigException">Unsupported settings, a dimension not divisible by the group size, an already quantized source.</exception>
    /// <exception cref="CheckpointException">The source is not a model folder, or <paramref name="outDir"/> already exists and is not empty.</exception>
    public static QuantizedFolderResult Write(string modelDir, string outDir, QuantizationConfig config)
    {
        config.Validate();
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new CheckpointException($"{outDir} already exists and is not empty; quantize into a new folder");
        if (File.Exists(outDir)) throw new CheckpointException($"{outDir} is a file; quantize into a new folder");
        if (QuantizationConfig.FromFolder(modelDir) is not null)
            throw new ConfigException($"{modelDir} is already quantized; quantize the float model");
        using var model = ModelLoader.Load(modelDir);
        ModelQuantizer.Quantize(model, config);
        int count = ((IQuantizableModel)model).QuantizableWeights(config).Count;
        bool hasTokenizer = TokenizerFiles.Names.Any(n => File.Exists(Path.Combine(modelDir, n)));
        AtomicFiles.WriteFolder(outDir, tmp =>
        {
            model.SavePretrained(tmp);
            if (hasTokenizer) TokenizerFiles.CopyInto(modelDir, tmp);
        }, lastFile: "config.json");
        long source = Directory.EnumerateFiles(modelDir, "*.safetensors").Sum(f => new FileInfo(f).Length);
        long quantized = new FileInfo(Path.Combine(outDir, CheckpointFolder.SingleFile)).Length;
        return new QuantizedFolderResult(model.ModelType, count, source, quantized);
    }
}

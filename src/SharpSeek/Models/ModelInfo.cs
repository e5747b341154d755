using SharpSeek.Checkpoints;

namespace SharpSeek.Models;

/// <summary>What <c>sharpseek inspect</c> shows: sizes, compute and cache cost of a model folder, read from headers only.</summary>
public sealed record ModelInfo(
    string ModelType,
    string ConfigJson,
    long ParameterCount,
    long ActiveParameterCount,
    long FlopsPerToken,
    long KvCacheBytesPerToken,
    IReadOnlyList<SafeTensorInfo> Tensors)
{
    /// <summary>
    /// Reads config.json and the safetensors headers of <paramref name="dir"/> (no weights are loaded) and validates them
    /// as strictly as loading does: <see cref="ConfigException"/> or <see cref="CheckpointException"/> on a mismatch.
    /// </summary>
    public static ModelInfo Read(string dir)
    {
        string modelType = ModelLoader.ReadModelType(dir);
        ModelFamily family;
        try { family = ModelFamilies.Get(modelType); }
        catch (ConfigException e) { throw new ConfigException($"{dir}: {e.Message}"); }
        string configJson = File.ReadAllText(Path.Combine(dir, "config.json"));
        using var ckpt = CheckpointFolder.Open(dir);
        var figures = family.Inspect(dir, ckpt);
        var tensors = ckpt.Names.OrderBy(n => n, StringComparer.Ordinal).Select(ckpt.Info).ToList();
        return new ModelInfo(modelType, configJson, figures.ParameterCount, figures.ActiveParameterCount, figures.FlopsPerToken, figures.KvCacheBytesPerToken, tensors);
    }
}

using SharpSeek.Checkpoints;

namespace SharpSeek.Models.Common;

/// <summary>
/// The tensors a config implies (names and shapes as stored on disk), checked against a checkpoint's safetensors
/// headers without reading any weight: what loading and <c>inspect</c> both run, so both are equally strict. Tensors
/// are floating-point unless <paramref name="DTypes"/> names their exact dtype (a quantized checkpoint's int8 data).
/// </summary>
public sealed record CheckpointLayout(IReadOnlyList<(string Name, long[] Shape)> Expected, Func<string, bool> Ignorable,
                                      IReadOnlyDictionary<string, SafeTensorDType>? DTypes = null)
{
    /// <summary>
    /// A reward model's scalar head (Hugging Face sequence classification): never part of a causal LM, and ignored when one
    /// is loaded from a reward-model folder (which keeps the whole LM; <c>RewardModel</c> reads the head itself).
    /// </summary>
    public const string ScoreHead = "score.weight";

    /// <summary>
    /// Throws <see cref="CheckpointException"/> at the first problem. <paramref name="aggregate"/> false: tensor by tensor
    /// (missing, shape, dtype), then "unexpected tensor" with <paramref name="unusedHint"/>; true: all missing, all unused,
    /// then shapes with <paramref name="shapeHint"/>.
    /// </summary>
    public void Validate(CheckpointFolder folder, bool aggregate, string unusedHint, string shapeHint = "")
    {
        string dir = folder.Directory;
        var expectedNames = new HashSet<string>(Expected.Select(e => e.Name), StringComparer.Ordinal);
        var unused = folder.Names.Where(n => !expectedNames.Contains(n) && !Ignorable(n) && n != ScoreHead).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (aggregate)
        {
            var missing = Expected.Where(e => !folder.Contains(e.Name)).Select(e => e.Name).ToList();
            if (missing.Count > 0)
                throw new CheckpointException($"{dir}: checkpoint lacks {missing.Count} tensor(s) the config implies, e.g. '{string.Join("', '", missing.Take(3))}'");
            if (unused.Count > 0)
                throw new CheckpointException($"{dir}: checkpoint has {unused.Count} tensor(s) the config does not use, e.g. '{string.Join("', '", unused.Take(3))}' {unusedHint}");
        }
        foreach (var (name, shape) in Expected)
        {
            if (!folder.Contains(name)) throw new CheckpointException($"{dir}: missing tensor '{name}'");
            var info = folder.Info(name);
            if (!info.Shape.SequenceEqual(shape))
                throw new CheckpointException(aggregate
                    ? $"{dir}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}] but config.json implies [{string.Join(", ", shape)}] {shapeHint}"
                    : $"{dir}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}], config.json implies [{string.Join(", ", shape)}]");
            if (DTypes is not null && DTypes.TryGetValue(name, out var exact))
            {
                if (info.DType != exact) throw new CheckpointException($"{dir}: tensor '{name}' has dtype {info.DType}, expected {exact}");
                continue;
            }
            if (info.DType is not (SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F64))
                throw new CheckpointException(aggregate
                    ? $"{dir}: tensor '{name}' has dtype {info.DType}; expected a floating-point type"
                    : $"{dir}: tensor '{name}' has dtype {info.DType}, expected a floating-point type");
        }
        if (unused.Count > 0) throw new CheckpointException($"{dir}: unexpected tensor '{unused[0]}' {unusedHint}");
    }
}

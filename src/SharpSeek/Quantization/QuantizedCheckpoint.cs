using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Quantization;

/// <summary>
/// The on-disk form of a quantized weight <c>&lt;name&gt;.weight</c> (docs/quantization.md): <c>&lt;name&gt;.weight</c> int8 (out, in)
/// or packed uint8 (out, in / 2), <c>&lt;name&gt;.weight_scale</c> float32 (out, groups), and for asymmetric int4
/// <c>&lt;name&gt;.weight_zero_point</c> uint8 (out, groups). Quantized weights are always stored (out, in), also for
/// GPT-2's Conv1D layers whose float weights Hugging Face stores (in, out).
/// </summary>
public static class QuantizedCheckpoint
{
    public const string ScaleSuffix = "_scale";
    public const string ZeroPointSuffix = "_zero_point";

    /// <summary>
    /// <paramref name="layout"/> with each weight in <paramref name="quantized"/> (file names) replaced by its quantized
    /// tensors, their exact dtypes and shapes; <paramref name="storedTransposed"/> says which float weights are stored (in, out).
    /// </summary>
    /// <exception cref="ConfigException">An input dimension is not divisible by the group size.</exception>
    public static CheckpointLayout Layout(CheckpointLayout layout, QuantizationConfig config, IReadOnlySet<string> quantized, Func<string, bool> storedTransposed)
    {
        var expected = new List<(string, long[])>();
        var dtypes = new Dictionary<string, SafeTensorDType>(layout.DTypes ?? new Dictionary<string, SafeTensorDType>(), StringComparer.Ordinal);
        foreach (var (name, shape) in layout.Expected)
        {
            if (!quantized.Contains(name)) { expected.Add((name, shape)); continue; }
            long rows = storedTransposed(name) ? shape[1] : shape[0], cols = storedTransposed(name) ? shape[0] : shape[1];
            int group = config.GroupFor((int)cols);
            if (config.Bits == 4) QuantizedWeight.CheckGroupSize(group, (int)cols, name);
            expected.Add((name, config.Bits == 8 ? [rows, cols] : [rows, cols / 2]));
            dtypes[name] = config.Bits == 8 ? SafeTensorDType.I8 : SafeTensorDType.U8;
            expected.Add((name + ScaleSuffix, [rows, cols / group]));
            dtypes[name + ScaleSuffix] = SafeTensorDType.F32;
            if (config.ZeroPoint)
            {
                expected.Add((name + ZeroPointSuffix, [rows, cols / group]));
                dtypes[name + ZeroPointSuffix] = SafeTensorDType.U8;
            }
        }
        return new CheckpointLayout(expected, layout.Ignorable, dtypes);
    }

    /// <summary>Reads the quantized weight stored as <paramref name="fileName"/> (+ its scales and zero points).</summary>
    /// <exception cref="CheckpointException">A tensor is missing or does not fit the others.</exception>
    public static QuantizedWeight Read(CheckpointFolder folder, string fileName, QuantizationConfig config)
    {
        foreach (var n in config.ZeroPoint ? [fileName, fileName + ScaleSuffix, fileName + ZeroPointSuffix] : new[] { fileName, fileName + ScaleSuffix })
            if (!folder.Contains(n)) throw new CheckpointException($"{folder.Directory}: missing tensor '{n}'");
        var data = folder.Load(fileName);
        var scales = folder.Load(fileName + ScaleSuffix);
        var zeros = config.ZeroPoint ? folder.Load(fileName + ZeroPointSuffix) : null;
        int cols = config.Bits == 8 ? (int)data.shape[^1] : (int)data.shape[^1] * 2;
        try { return new QuantizedWeight(config.Bits, config.GroupFor(cols), data, scales, zeros, fileName); }
        catch (CheckpointException e)
        {
            data.Dispose(); scales.Dispose(); zeros?.Dispose();
            throw new CheckpointException($"{folder.Directory}: {e.Message}");
        }
    }

    /// <summary>The tensors to save for <paramref name="weight"/> under <paramref name="fileName"/> (aliases: the caller may dispose them).</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> Tensors(string fileName, QuantizedWeight weight)
    {
        yield return new(fileName, weight.Data.alias());
        yield return new(fileName + ScaleSuffix, weight.Scales.alias());
        if (weight.Zeros is { } z) yield return new(fileName + ZeroPointSuffix, z.alias());
    }
}

using System.Text.RegularExpressions;
using SharpSeek.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

public sealed partial class DeepSeekV3ForCausalLM
{
    public const string ConfigFile = "config.json";

    /// <summary>
    /// Loads config.json + safetensors weights (single file or shards) from a Hugging Face DeepSeek-V3 folder. Every
    /// expected tensor must be present with the shape the config implies and nothing else may be there
    /// (<see cref="CheckpointException"/> otherwise); weights are converted to float32.
    /// </summary>
    public static DeepSeekV3ForCausalLM FromPretrained(string directory)
    {
        var config = DeepSeekV3Config.Load(Path.Combine(directory, ConfigFile));
        using var folder = CheckpointFolder.Open(directory);
        var model = new DeepSeekV3ForCausalLM(config);
        try { model.LoadFrom(folder); }
        catch { model.Dispose(); throw; }
        model.eval();
        return model;
    }

    private void LoadFrom(CheckpointFolder folder)
    {
        var expected = state_dict();
        var missing = expected.Keys.Where(k => !folder.Contains(k)).ToList();
        if (missing.Count > 0)
            throw new CheckpointException($"{folder.Directory}: checkpoint lacks {missing.Count} tensor(s) the config implies, e.g. '{string.Join("', '", missing.Take(3))}'");
        var unexpected = folder.Names.Where(n => !expected.ContainsKey(n) && !IsIgnorable(n)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
            throw new CheckpointException($"{folder.Directory}: checkpoint has {unexpected.Count} tensor(s) the config does not use, e.g. '{string.Join("', '", unexpected.Take(3))}' (check num_hidden_layers, n_routed_experts, q_lora_rank, num_nextn_predict_layers)");
        foreach (var (name, target) in expected)
        {
            var info = folder.Info(name);
            if (!info.Shape.SequenceEqual(target.shape))
                throw new CheckpointException($"{folder.Directory}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}] but config.json implies [{string.Join(", ", target.shape)}] (check hidden_size, head dims, ranks and expert sizes)");
            if (info.DType is not (SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F64))
                throw new CheckpointException($"{folder.Directory}: tensor '{name}' has dtype {info.DType}; expected a floating-point type");
        }
        using var _ = torch.no_grad();
        foreach (var (name, target) in expected)
        {
            using var loaded = folder.Load(name);
            target.copy_(loaded.to(target.dtype, target.device));
        }
    }

    /// <summary>Names HF checkpoints may carry that hold no weights of their own: rotary caches, MTP copies of shared tensors.</summary>
    private bool IsIgnorable(string name)
    {
        if (name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)) return true;
        var m = SharedCopy().Match(name);
        return m.Success && int.Parse(m.Groups[1].Value) >= Config.NumHiddenLayers
            && int.Parse(m.Groups[1].Value) < Config.NumHiddenLayers + Config.NumNextnPredictLayers;
    }

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(embed_tokens\.weight|shared_head\.head\.weight)$")]
    private static partial Regex SharedCopy();

    /// <summary>Writes config.json and model.safetensors (float32, HF names), each via a temporary file and rename.</summary>
    public override void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        var tensors = state_dict();
        SafeTensors.Save(Path.Combine(directory, CheckpointFolder.SingleFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        Config.Save(Path.Combine(directory, ConfigFile));
    }
}

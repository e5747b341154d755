using System.Text.RegularExpressions;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;
using SharpSeek.Quantization;
using SharpSeek.Models.Offload;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

public sealed partial class DeepSeekV3ForCausalLM : IQuantizableModel
{
    public const string ConfigFile = "config.json";

    /// <summary>
    /// Loads config.json + safetensors weights (single file or shards) from a Hugging Face DeepSeek-V3 folder. Every
    /// expected tensor must be present with the shape the config implies and nothing else may be there
    /// (<see cref="CheckpointException"/> otherwise); weights are converted to float32. A quantized folder (config.json's
    /// quantization_config) loads its quantized weights without materialising float ones.
    /// </summary>
    public static DeepSeekV3ForCausalLM FromPretrained(string directory)
    {
        var config = DeepSeekV3Config.Load(Path.Combine(directory, ConfigFile));
        var quantization = QuantizationConfig.FromFolder(directory);
        using var folder = CheckpointFolder.Open(directory);
        DeepSeekV3ForCausalLM model;
        using (quantization is null ? null : Projection.DeferWeights()) model = new DeepSeekV3ForCausalLM(config);
        try { model.LoadFrom(folder, quantization); }
        catch { model.Dispose(); throw; }
        model.eval();
        return model;
    }

    /// <summary>
    /// Loads <paramref name="directory"/> with its decoder layers placed by <paramref name="map"/>: layers on disk stay in the
    /// safetensors file and are read for each forward (<see cref="LayerOffload"/>); embed_tokens, norm and lm_head stay in
    /// memory, and the multi-token-prediction modules (unused by generation) stay on disk.
    /// </summary>
    public static DeepSeekV3ForCausalLM FromPretrained(string directory, DeviceMap map)
    {
        var config = DeepSeekV3Config.Load(Path.Combine(directory, ConfigFile));
        using var folder = CheckpointFolder.Open(directory);
        Validate(config, folder);
        static string Layer(int i) => $"model.layers.{i}.";
        var placement = map.Resolve(Layout(config), config.NumHiddenLayers, Layer, extraUnits: config.NumNextnPredictLayers);
        var model = new DeepSeekV3ForCausalLM(config, i => placement[i].IsDisk);
        try
        {
            var tensors = model.HuggingFaceStateDict().Select(kv => new OffloadTensor(kv.Key, kv.Key, Transposed: false, kv.Value));
            model._model.Offload = LayerOffload.Load(folder, placement, tensors, Layer);
        }
        catch { model.Dispose(); throw; }
        model.eval();
        return model;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _model.Offload?.Dispose();
        base.Dispose(disposing);
    }

    private void LoadFrom(CheckpointFolder folder, QuantizationConfig? quantization)
    {
        Validate(Config, folder, quantization);
        using var _ = torch.no_grad();
        if (quantization is not null)
        {
            foreach (var w in QuantizableWeights(quantization))
            {
                var q = QuantizedCheckpoint.Read(folder, w.Name, quantization);
                if (w.Target is { } p) p.Quantize(q); else QuantizeEmbedding(w.Name, q);
            }
            Projection.MaterializeDeferred(this);
            Quantization = quantization;
        }
        foreach (var (name, target) in HuggingFaceStateDict())
        {
            using var loaded = folder.Load(name);
            target.copy_(loaded.to(target.dtype, target.device));
        }
    }

    /// <summary>Checks the checkpoint's headers against <paramref name="config"/> (no weights read); <see cref="CheckpointException"/> at the first problem.</summary>
    public static void Validate(DeepSeekV3Config config, CheckpointFolder folder) =>
        Validate(config, folder, QuantizationConfig.FromFolder(folder.Directory));

    private static void Validate(DeepSeekV3Config config, CheckpointFolder folder, QuantizationConfig? quantization) =>
        Layout(config, quantization).Validate(folder, aggregate: true,
            unusedHint: "(check num_hidden_layers, n_routed_experts, q_lora_rank, num_nextn_predict_layers)",
            shapeHint: "(check hidden_size, head dims, ranks and expert sizes)");

    /// <summary>
    /// Tensors (HF names and shapes, state-dict order) that <paramref name="c"/> implies, MTP modules included; with
    /// <paramref name="quantization"/> the quantized weights' data, scales and zero points instead.
    /// </summary>
    public static CheckpointLayout Layout(DeepSeekV3Config c, QuantizationConfig? quantization = null)
    {
        var layout = FloatLayout(c);
        if (quantization is null) return layout;
        var quantized = QuantizedWeightNames(c, quantization).ToHashSet(StringComparer.Ordinal);
        return QuantizedCheckpoint.Layout(layout, quantization, quantized, _ => false);
    }

    private static CheckpointLayout FloatLayout(DeepSeekV3Config c)
    {
        long d = c.HiddenSize, h = c.NumAttentionHeads, qOut = h * c.QkHeadDim;
        var expected = new List<(string, long[])> { ("model.embed_tokens.weight", [c.VocabSize, d]) };
        void Mlp(string p, long inner) => expected.AddRange([(p + "gate_proj.weight", [inner, d]), (p + "up_proj.weight", [inner, d]), (p + "down_proj.weight", [d, inner])]);
        for (int i = 0; i < c.NumHiddenLayers + c.NumNextnPredictLayers; i++)
        {
            string p = $"model.layers.{i}.";
            expected.Add((p + "input_layernorm.weight", [d]));
            if (c.QRank > 0)
                expected.AddRange([(p + "self_attn.q_a_proj.weight", [c.QRank, d]), (p + "self_attn.q_a_layernorm.weight", [c.QRank]), (p + "self_attn.q_b_proj.weight", [qOut, c.QRank])]);
            else expected.Add((p + "self_attn.q_proj.weight", [qOut, d]));
            expected.AddRange([
                (p + "self_attn.kv_a_proj_with_mqa.weight", [c.KvLoraRank + c.QkRopeHeadDim, d]),
                (p + "self_attn.kv_a_layernorm.weight", [c.KvLoraRank]),
                (p + "self_attn.kv_b_proj.weight", [h * (c.QkNopeHeadDim + c.VHeadDim), c.KvLoraRank]),
                (p + "self_attn.o_proj.weight", [d, h * c.VHeadDim]),
                (p + "post_attention_layernorm.weight", [d])]);
            if (c.IsMoeLayer(i))
            {
                expected.AddRange([(p + "mlp.gate.weight", [c.NRoutedExperts, d]), (p + "mlp.gate.e_score_correction_bias", [c.NRoutedExperts])]);
                for (int e = 0; e < c.NRoutedExperts; e++) Mlp($"{p}mlp.experts.{e}.", c.MoeIntermediateSize);
                if (c.NSharedExperts > 0) Mlp(p + "mlp.shared_experts.", (long)c.MoeIntermediateSize * c.NSharedExperts);
            }
            else Mlp(p + "mlp.", c.IntermediateSize);
            if (i >= c.NumHiddenLayers)
                expected.AddRange([(p + "enorm.weight", [d]), (p + "hnorm.weight", [d]), (p + "eh_proj.weight", [d, 2 * d]), (p + "shared_head.norm.weight", [d])]);
        }
        expected.AddRange([("model.norm.weight", [d]), ("lm_head.weight", [c.VocabSize, d])]);
        return new CheckpointLayout(expected, name => IsIgnorable(c, name));
    }

    /// <summary>
    /// The state dict under Hugging Face names: without the second paths TorchSharp registers for each MTP module's private
    /// fields (<c>model.layers.{N+k}._block.…</c>, <c>._enorm.…</c>: the same tensors as <c>model.layers.{N+k}.…</c>).
    /// </summary>
    public Dictionary<string, Tensor> HuggingFaceStateDict() =>
        state_dict().Where(kv => !MtpBlockAlias().IsMatch(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    /// <summary>Names HF checkpoints may carry that hold no weights of their own: rotary caches, MTP copies of shared tensors.</summary>
    private static bool IsIgnorable(DeepSeekV3Config c, string name)
    {
        if (name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)) return true;
        if (MtpBlockAlias().Match(name) is { Success: true } alias)                        // older SharpSeek checkpoints saved these duplicates
            return int.Parse(alias.Groups[1].Value) >= c.NumHiddenLayers && int.Parse(alias.Groups[1].Value) < c.NumHiddenLayers + c.NumNextnPredictLayers;
        var m = SharedCopy().Match(name);
        return m.Success && int.Parse(m.Groups[1].Value) >= c.NumHiddenLayers
            && int.Parse(m.Groups[1].Value) < c.NumHiddenLayers + c.NumNextnPredictLayers;
    }

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(embed_tokens\.weight|shared_head\.head\.weight)$")]
    private static partial Regex SharedCopy();

    [GeneratedRegex(@"^model\.layers\.(\d+)\._")]
    private static partial Regex MtpBlockAlias();

    /// <summary>
    /// Writes config.json and model.safetensors (float32, HF names; a quantized model's quantized weights as
    /// <see cref="QuantizedCheckpoint"/> stores them), each via a temporary file and rename.
    /// </summary>
    public override void SavePretrained(string directory)
    {
        LayerOffload.ThrowIfOffloaded(Offload, "saved");
        Directory.CreateDirectory(directory);
        var tensors = HuggingFaceStateDict();
        var quantized = new List<Tensor>();
        if (Quantization is { } q)
            foreach (var w in QuantizableWeights(q))
                foreach (var (name, t) in QuantizedCheckpoint.Tensors(w.Name, ModelQuantizer.Stored(this, w))) { tensors[name] = t; quantized.Add(t); }
        try { SafeTensors.Save(Path.Combine(directory, CheckpointFolder.SingleFile), tensors, new Dictionary<string, string> { ["format"] = "pt" }); }
        finally { foreach (var t in quantized) t.Dispose(); }
        if (Quantization is null) Config.Save(Path.Combine(directory, ConfigFile));
        else AtomicFiles.WriteText(Path.Combine(directory, ConfigFile), QuantizationConfig.WithConfig(Config.ToJson(), Quantization));
    }

    // ---- quantization --------------------------------------------------------------------------------------------

    /// <summary>
    /// Names of the weights <paramref name="q"/> quantizes: every 2-D weight of the layout (MLA projections, dense MLPs,
    /// routed and shared experts, MTP eh_proj) except the MoE routers; lm_head and embed_tokens only when included.
    /// </summary>
    public static IReadOnlyList<string> QuantizedWeightNames(DeepSeekV3Config c, QuantizationConfig q) =>
        FloatLayout(c).Expected
            .Where(e => e.Shape.Length == 2 && e.Name.EndsWith(".weight", StringComparison.Ordinal) && !e.Name.EndsWith(".mlp.gate.weight", StringComparison.Ordinal))
            .Where(e => e.Name switch { EmbedName => q.IncludeEmbeddings, HeadName => q.IncludeHead, _ => true })
            .Select(e => e.Name).ToList();

    private const string EmbedName = "model.embed_tokens.weight", HeadName = "lm_head.weight";

    public IReadOnlyList<QuantizableWeight> QuantizableWeights(QuantizationConfig config)
    {
        var modules = named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        return QuantizedWeightNames(Config, config).Select(name =>
        {
            if (name == EmbedName) return new QuantizableWeight(name, Config.VocabSize, Config.HiddenSize, null);
            var p = (Projection)modules[name[..^".weight".Length]];
            return new QuantizableWeight(name, (int)p.OutFeatures, (int)p.InFeatures, p);
        }).ToList();
    }

    Tensor IQuantizableModel.EmbeddingTable(string name) => _model.EmbedTokens.weight!;

    public void QuantizeEmbedding(string name, QuantizedWeight table) => _model.QuantizeEmbedTokens(table);

    public QuantizedWeight? QuantizedEmbedding(string name) => _model.QuantizedEmbedTokens;
}

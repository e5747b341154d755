using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;
using SharpSeek.Quantization;
using SharpSeek.Models.Offload;
using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.Gpt2;

/// <summary>
/// GPT-2 language model (HF <c>GPT2LMHeadModel</c>; Radford et al. 2019): the trunk plus an output head tied to the
/// token embedding. Loads and saves the Hugging Face layout: config.json + safetensors with Conv1D weights [in, out]
/// (a quantized model: see <see cref="QuantizedCheckpoint"/>; with the head tied, quantizing the head or the embeddings
/// quantizes the one table wte, applied by the quantized kernel as the head and dequantized row by row for lookups).
/// </summary>
public sealed class Gpt2LMHeadModel : CausalLM, IQuantizableModel, IOffloadedModel
{
    [ComponentName(Name = "transformer")] private readonly Gpt2Model _transformer;
    [ComponentName(Name = "lm_head")] private readonly Projection? _lmHead;    // only when tie_word_embeddings is false
    private readonly Projection _head;                                         // lm_head, or a view of wte (not registered)

    public Gpt2Config Config { get; private set; }

    public Gpt2LMHeadModel(Gpt2Config config) : this(config, null) { }

    private Gpt2LMHeadModel(Gpt2Config config, Func<int, bool>? onDisk) : base(nameof(Gpt2LMHeadModel))
    {
        config.Validate();
        Config = config;
        _transformer = new Gpt2Model(config, onDisk);
        if (!config.TieWordEmbeddings) _lmHead = new Projection(config.NEmbd, config.VocabSize, hasBias: false);
        RegisterComponents();
        _head = _lmHead ?? Projection.Tied(() => _transformer.TokenEmbedding, () => _transformer.QuantizedTokenEmbedding);
        InitWeights();
    }

    public override int VocabSize => Config.VocabSize;
    internal override void SetVocabSize(int vocabSize) => Config = Config with { VocabSize = vocabSize };
    public override int HiddenSize => Config.NEmbd;
    public override int MaxSequenceLength => Config.NPositions;
    public override string ModelType => "gpt2";
    public override Device Device => _transformer.PositionEmbedding.device;
    public override Projection OutputHead => _head;
    public LayerOffload? Offload => _transformer.Offload;

    /// <summary>
    /// Logits (B, T, V) for ids (B, T) and whatever else <paramref name="input"/> asks for; the trace holds the fixtures'
    /// embed_out, block_out.{i}, ln_f_out.
    /// </summary>
    public override CausalLMOutput forward(CausalLMInput input)
    {
        using var scope = torch.NewDisposeScope();
        var trace = input.OutputTrace ? new ModelTrace() : null;
        var (h, residual, hidden, attentions) = _transformer.forward(input, trace);            // (B, T, C)
        Tensor? logits = null;
        if (input.ComputeLogits)
        {
            var last = input.LogitsToKeep > 0 && input.LogitsToKeep < h.shape[1] ? h.narrow(1, h.shape[1] - input.LogitsToKeep, input.LogitsToKeep) : h;
            logits = _head.call(last).to(h.dtype).MoveToOuterDisposeScope();                   // (B, T, V)
        }
        OutputTensors.MoveOut([h, residual, .. hidden ?? [], .. attentions ?? []]);
        return new CausalLMOutput(logits)
        {
            LastHiddenState = h, ResidualState = input.OutputHiddenStates ? residual : null,
            HiddenStates = hidden, Attentions = attentions, Trace = trace,
        };
    }

    /// <summary>
    /// Every matmul in <paramref name="dtype"/> (weights stay float32 masters): the blocks' projections and causal
    /// attention, with activations in it from each LayerNorm's output to the residual add, and the output head.
    /// </summary>
    protected override void OnComputeDTypeChanged(ScalarType? dtype)
    {
        base.OnComputeDTypeChanged(dtype);
        _transformer.ComputeDType = dtype;
    }

    public override KvCache CreateKvCache(int batchSize, int capacity) =>
        new Gpt2KvCache(Config, batchSize, Math.Min(capacity, Config.NPositions), Device, _transformer.PositionEmbedding.dtype);

    /// <summary>GPT-2 initialisation: N(0, 0.02) weights, zero biases, residual projections scaled by 1/√(2·n_layer).</summary>
    private void InitWeights()
    {
        using var _ = torch.no_grad();
        double std = Config.InitializerRange;
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith(".bias")) nn.init.zeros_(p);
            else if (name.Contains(".ln_") || name.StartsWith("transformer.ln_f")) nn.init.ones_(p);
            else if (name.EndsWith("c_proj.weight")) nn.init.normal_(p, 0, std / Math.Sqrt(2.0 * Config.NLayer));
            else nn.init.normal_(p, 0, std);
        }
    }

    /// <summary>Parameters counted once (the tied head is the embedding).</summary>
    public long ParameterCount() => parameters().Sum(p => p.NumberOfElements);

    // ---- Hugging Face layout -------------------------------------------------------------------------------------

    private static readonly string[] Conv1DSuffixes = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"];
    private static bool IsConv1D(string name) => Conv1DSuffixes.Any(name.EndsWith);

    /// <summary>
    /// Loads config.json and the safetensors weights (with or without the <c>transformer.</c> prefix) from <paramref name="dir"/>;
    /// a quantized folder (config.json's quantization_config) loads its quantized weights without materialising float ones.
    /// </summary>
    public static Gpt2LMHeadModel FromPretrained(string dir)
    {
        var config = Gpt2Config.Load(Path.Combine(dir, "config.json"));
        var quantization = QuantizationConfig.FromFolder(dir);
        using var ckpt = CheckpointFolder.Open(dir);
        Gpt2LMHeadModel model;
        using (quantization is null ? null : Projection.DeferWeights()) model = new Gpt2LMHeadModel(config);
        try { model.LoadWeights(ckpt, quantization); }
        catch { model.Dispose(); throw; }
        model.eval();
        return model;
    }

    /// <summary>
    /// Loads <paramref name="dir"/> with its blocks placed by <paramref name="map"/>: blocks on disk stay in the safetensors
    /// file and are read for each forward (<see cref="LayerOffload"/>); wte (also the tied head), wpe and ln_f stay in memory.
    /// </summary>
    public static Gpt2LMHeadModel FromPretrained(string dir, DeviceMap map)
    {
        var config = Gpt2Config.Load(Path.Combine(dir, "config.json"));
        using var ckpt = CheckpointFolder.Open(dir);
        Validate(config, ckpt);
        string prefix = Prefix(ckpt);
        static string Block(int i) => $"transformer.h.{i}.";
        var placement = map.Resolve(Layout(config, "transformer."), config.NLayer, Block);
        var model = new Gpt2LMHeadModel(config, i => placement[i].IsDisk);
        try
        {
            var tensors = model.named_parameters().Select(p => new OffloadTensor(p.name, FileName(p.name, prefix), IsConv1D(p.name), p.parameter));
            model._transformer.Offload = LayerOffload.Load(ckpt, placement, tensors, Block);
        }
        catch { model.Dispose(); throw; }
        model.eval();
        return model;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _transformer.Offload?.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>The checkpoint name of parameter <paramref name="name"/> for a checkpoint whose tensors carry <paramref name="prefix"/>.</summary>
    private static string FileName(string name, string prefix) => name == "lm_head.weight" ? name : prefix + name["transformer.".Length..];

    /// <summary>The tensor prefix of a GPT-2 checkpoint: "transformer." (GPT2LMHeadModel) or "" (GPT2Model).</summary>
    private static string Prefix(CheckpointFolder ckpt) =>
        ckpt.Contains("transformer.wte.weight") ? "transformer." : ckpt.Contains("wte.weight") ? "" :
        throw new CheckpointException($"{ckpt.Directory}: no 'wte.weight' or 'transformer.wte.weight': not a GPT-2 checkpoint");

    /// <summary>Causal-mask buffers some checkpoints carry (no weights).</summary>
    internal static bool IsBuffer(string name) => name.EndsWith(".attn.bias") || name.EndsWith(".attn.masked_bias");

    /// <summary>
    /// Tensors <paramref name="c"/> implies, in parameter order, as stored: <paramref name="prefix"/> names, Conv1D weights
    /// [in, out]; with <paramref name="quantization"/> the quantized weights' data, scales and zero points instead.
    /// </summary>
    public static CheckpointLayout Layout(Gpt2Config c, string prefix, QuantizationConfig? quantization = null)
    {
        var layout = FloatLayout(c, prefix);
        if (quantization is null) return layout;
        var quantized = QuantizedWeightNames(c, quantization).Select(n => FileName(n, prefix)).ToHashSet(StringComparer.Ordinal);
        return QuantizedCheckpoint.Layout(layout, quantization, quantized, IsConv1D);
    }

    private static CheckpointLayout FloatLayout(Gpt2Config c, string prefix)
    {
        long d = c.NEmbd, inner = c.InnerSize;
        var expected = new List<(string, long[])> { (prefix + "wte.weight", [c.VocabSize, d]), (prefix + "wpe.weight", [c.NPositions, d]) };
        for (int i = 0; i < c.NLayer; i++)
        {
            string h = $"{prefix}h.{i}.";
            expected.AddRange([
                (h + "ln_1.weight", [d]), (h + "ln_1.bias", [d]),
                (h + "attn.c_attn.weight", [d, 3 * d]), (h + "attn.c_attn.bias", [3 * d]),
                (h + "attn.c_proj.weight", [d, d]), (h + "attn.c_proj.bias", [d]),
                (h + "ln_2.weight", [d]), (h + "ln_2.bias", [d]),
                (h + "mlp.c_fc.weight", [d, inner]), (h + "mlp.c_fc.bias", [inner]),
                (h + "mlp.c_proj.weight", [inner, d]), (h + "mlp.c_proj.bias", [d])]);
        }
        expected.AddRange([(prefix + "ln_f.weight", [d]), (prefix + "ln_f.bias", [d])]);
        if (!c.TieWordEmbeddings) expected.Add(("lm_head.weight", [c.VocabSize, d]));
        return new CheckpointLayout(expected, name => IsBuffer(name) || (name == "lm_head.weight" && c.TieWordEmbeddings));   // tied: the head is wte
    }

    /// <summary>Checks the checkpoint's headers against <paramref name="config"/> (no weights read); <see cref="CheckpointException"/> at the first problem.</summary>
    public static void Validate(Gpt2Config config, CheckpointFolder ckpt) =>
        Layout(config, Prefix(ckpt), QuantizationConfig.FromFolder(ckpt.Directory))
            .Validate(ckpt, aggregate: false, unusedHint: "(not part of a GPT-2 model with this config.json)");

    private void LoadWeights(CheckpointFolder ckpt, QuantizationConfig? quantization)
    {
        Layout(Config, Prefix(ckpt), quantization).Validate(ckpt, aggregate: false, unusedHint: "(not part of a GPT-2 model with this config.json)");
        string prefix = Prefix(ckpt);
        using var _ = torch.no_grad();
        if (quantization is not null)
        {
            foreach (var w in QuantizableWeights(quantization))
            {
                var q = QuantizedCheckpoint.Read(ckpt, FileName(w.Name, prefix), quantization);
                if (w.Target is { } p) p.Quantize(q); else QuantizeEmbedding(w.Name, q);
            }
            Projection.MaterializeDeferred(this);
            Quantization = quantization;
        }
        foreach (var (name, param) in named_parameters())
        {
            using var t = ckpt.Load(FileName(name, prefix));
            using var src = IsConv1D(name) ? t.t() : t.alias();
            param.copy_(src);
        }
    }

    /// <summary>HF-named tensors (<c>transformer.</c> prefix, Conv1D weights [in, out], no lm_head when tied), fp32 or the model's dtype.</summary>
    public Dictionary<string, Tensor> HuggingFaceStateDict()
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in named_parameters())
            result[name] = IsConv1D(name) ? p.detach().t().contiguous() : p.detach().contiguous();
        return result;
    }

    /// <summary>Writes model.safetensors (a quantized model's quantized weights as <see cref="QuantizedCheckpoint"/> stores them) and config.json.</summary>
    public override void SavePretrained(string directory)
    {
        LayerOffload.ThrowIfOffloaded(Offload, "saved");
        Directory.CreateDirectory(directory);
        var tensors = HuggingFaceStateDict();
        if (Quantization is { } q)
            foreach (var w in QuantizableWeights(q))
                foreach (var (name, t) in QuantizedCheckpoint.Tensors(w.Name, ModelQuantizer.Stored(this, w))) tensors[name] = t;
        try { SafeTensors.Save(Path.Combine(directory, CheckpointFolder.SingleFile), tensors, new Dictionary<string, string> { ["format"] = "pt" }); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
        string config = Quantization is null ? Config.ToJson() : QuantizationConfig.WithConfig(Config.ToJson(), Quantization);
        SharpSeek.Checkpoints.AtomicFiles.WriteText(Path.Combine(directory, "config.json"), config);
    }

    // ---- quantization --------------------------------------------------------------------------------------------

    /// <summary>
    /// State-dict names of the weights <paramref name="q"/> quantizes: every block's c_attn, c_proj, c_fc and mlp.c_proj;
    /// lm_head when untied and included; wte when the embeddings are included or the head is and tied to it.
    /// </summary>
    public static IReadOnlyList<string> QuantizedWeightNames(Gpt2Config c, QuantizationConfig q)
    {
        var names = new List<string>();
        if (q.IncludeEmbeddings || (c.TieWordEmbeddings && q.IncludeHead)) names.Add("transformer.wte.weight");
        for (int i = 0; i < c.NLayer; i++)
            names.AddRange(Conv1DSuffixes.Select(s => $"transformer.h.{i}.{s}"));
        if (!c.TieWordEmbeddings && q.IncludeHead) names.Add("lm_head.weight");
        return names;
    }

    public IReadOnlyList<QuantizableWeight> QuantizableWeights(QuantizationConfig config)
    {
        var modules = named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        return QuantizedWeightNames(Config, config).Select(name =>
        {
            if (name == "transformer.wte.weight") return new QuantizableWeight(name, Config.VocabSize, Config.NEmbd, null);
            var p = (Projection)modules[name[..^".weight".Length]];
            return new QuantizableWeight(name, (int)p.OutFeatures, (int)p.InFeatures, p);
        }).ToList();
    }

    Tensor IQuantizableModel.EmbeddingTable(string name) => _transformer.TokenEmbedding;

    public void QuantizeEmbedding(string name, QuantizedWeight table) => _transformer.QuantizeTokenEmbedding(table);

    public QuantizedWeight? QuantizedEmbedding(string name) => _transformer.QuantizedTokenEmbedding;
}

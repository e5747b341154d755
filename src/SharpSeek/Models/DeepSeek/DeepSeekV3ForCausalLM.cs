using SharpSeek.Models.Common;
using SharpSeek.Models.Offload;
using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// DeepSeek-V3 causal language model (DeepSeek-AI 2024, arXiv:2412.19437): MLA + DeepSeekMoE decoder, untied lm_head,
/// optional multi-token-prediction modules used for training. State-dict names equal the Hugging Face ones.
/// </summary>
public sealed partial class DeepSeekV3ForCausalLM : CausalLM, IMultiTokenPredictor, IOffloadedModel
{
    [ComponentName(Name = "model")] private readonly DeepSeekV3Model _model;
    [ComponentName(Name = "lm_head")] private readonly Projection _lmHead;   // (V, D)
    private AttentionImpl _impl = AttentionImpl.Naive;

    public DeepSeekV3Config Config { get; private set; }

    /// <summary>A randomly initialised model (normal(0, initializer_range) weights, unit norms, zero gate bias).</summary>
    public DeepSeekV3ForCausalLM(DeepSeekV3Config config) : this(config, null) { }

    private DeepSeekV3ForCausalLM(DeepSeekV3Config config, Func<int, bool>? onDisk) : base(nameof(DeepSeekV3ForCausalLM))
    {
        config.Validate();
        Config = config;
        _model = new DeepSeekV3Model(config, onDisk);
        _lmHead = new Projection(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
        InitWeights();
    }

    public DeepSeekV3Model Model => _model;
    public override int VocabSize => Config.VocabSize;
    internal override void SetVocabSize(int vocabSize) => Config = Config with { VocabSize = vocabSize };
    public override int HiddenSize => Config.HiddenSize;
    public override int MaxSequenceLength => Config.MaxPositionEmbeddings;
    public override string ModelType => "deepseek_v3";
    public override Projection OutputHead => _lmHead;
    public LayerOffload? Offload => _model.Offload;

    /// <summary>Naive or absorbed MLA in every attention layer (same weights, same cache).</summary>
    public AttentionImpl AttentionImpl
    {
        get => _impl;
        set
        {
            _impl = value;
            foreach (var b in _model.Blocks) b.Attention.Impl = value;
            foreach (var m in _model.Mtp) m.Block.Attention.Impl = value;
        }
    }

    /// <summary>MoE layers of the main stack and of the MTP modules.</summary>
    public IEnumerable<DeepSeekMoe> MoeLayers =>
        _model.Blocks.Select(b => b.Moe).Concat(_model.Mtp.Select(m => m.Block.Moe)).OfType<DeepSeekMoe>();

    private void InitWeights()
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal) || name.EndsWith("layernorm.weight", StringComparison.Ordinal)) p.fill_(1.0);
            else p.normal_(0, Config.InitializerRange);
        }
    }

    /// <summary>
    /// Logits (B, T, V) of the main head for ids (B, T) and whatever else <paramref name="input"/> asks for: hidden states,
    /// attention probabilities, the fixtures' trace (embed_out, block_out.{i}, norm_out, router weights and experts), MTP
    /// logits of every depth, and in training the MoE balance losses (<see cref="CausalLMOutput.AuxiliaryLosses"/>).
    /// </summary>
    public override CausalLMOutput forward(CausalLMInput input)
    {
        if (input.Cache is not null and not MlaKvCache) throw new ArgumentException($"DeepSeek-V3 needs an {nameof(MlaKvCache)}, got {input.Cache.GetType().Name}", nameof(input));
        using var scope = torch.NewDisposeScope();
        var ids = input.InputIds;
        long b = ids.shape[0], t = ids.shape[1];
        var cache = (MlaKvCache?)input.Cache;
        var aux = training ? new List<Tensor>() : null;
        var attentions = input.OutputAttentions ? new List<Tensor>() : null;
        var ctx = _model.Context(b, t, cache?.Length ?? 0, input.AttentionMask, input.PositionIds, ids.device, input.SegmentIds)
                  with { Cache = cache, AuxiliaryLosses = aux, Attentions = attentions };
        var trace = input.OutputTrace ? new ModelTrace() : null;
        var hidden = input.OutputHiddenStates ? new List<Tensor>() : null;
        var h = _model.Hidden(ids, ctx, trace, hidden);                                   // (B, T, D) residual stream
        var normed = _model.Norm.call(h);                                                  // (B, T, D)
        hidden?.Add(normed);
        Tensor? logits = null;
        if (input.ComputeLogits)
        {
            var last = input.LogitsToKeep > 0 && input.LogitsToKeep < t ? normed.narrow(1, t - input.LogitsToKeep, input.LogitsToKeep) : normed;
            logits = _lmHead.call(last).to(normed.dtype);                                  // (B, T, V)
        }
        List<Tensor>? mtpLogits = null;
        if (input.OutputMtp)
        {
            if (cache is not null || input.AttentionMask is not null) throw new ArgumentException("multi-token-prediction logits are computed for whole unpadded sequences without a cache", nameof(input));
            mtpLogits = new List<Tensor>();
            var previous = h;
            for (int k = 1; k <= _model.Mtp.Count && k < t; k++)
            {
                long len = t - k;
                var embedded = _model.Embed(ids.narrow(1, k, len));                                     // (B, T−k, D) tokens t_{i+k}
                var mtpCtx = _model.Context(b, len, 0, null, null, ids.device, input.SegmentIds?.narrow(1, 0, len)) with { AuxiliaryLosses = aux };   // packed: within each sample
                using (_model.Offload?.Enter(Config.NumHiddenLayers + k - 1))
                {
                    previous = _model.Mtp[k - 1].call(embedded, previous.narrow(1, 0, len), mtpCtx);   // (B, T−k, D)
                    mtpLogits.Add(_lmHead.call(_model.Mtp[k - 1].SharedHead.call(previous)).to(previous.dtype));   // (B, T−k, V) predicts t_{i+k+1}
                }
            }
        }
        var attn = attentions is null ? null : OutputTensors.Adopt(attentions);
        aux = aux is null ? null : OutputTensors.Adopt(aux);
        OutputTensors.MoveOut([normed, h, .. logits is null ? Array.Empty<Tensor>() : [logits], .. hidden ?? [], .. attn ?? [], .. aux ?? [], .. mtpLogits ?? []]);
        return new CausalLMOutput(logits)
        {
            LastHiddenState = normed, ResidualState = input.OutputHiddenStates ? h : null, HiddenStates = hidden,
            Attentions = attn, AuxiliaryLosses = aux ?? [], MtpLogits = mtpLogits, Trace = trace,
        };
    }

    /// <summary>Mixed precision in every projection and attention of the main blocks and the MTP modules; norms, router, softmax and residual stream stay float32.</summary>
    protected override void OnComputeDTypeChanged(ScalarType? dtype)
    {
        base.OnComputeDTypeChanged(dtype);
        _model.ComputeDType = dtype;
    }

    public override KvCache CreateKvCache(int batchSize, int capacity) =>
        new MlaKvCache(Config.NumHiddenLayers, batchSize, capacity, Config.KvLoraRank, Config.QkRopeHeadDim, Device, _lmHead.WeightDType);

    public int MtpDepth => _model.Mtp.Count;
    public double MtpLossWeight => Config.MtpLossWeight;

    /// <summary>Per-expert token counts (one array per MoE layer) of the last completed optimizer step, for load statistics.</summary>
    public IReadOnlyList<long[]> LastStepExpertLoads { get; private set; } = [];

    /// <summary>After each optimizer step: auxiliary-loss-free bias update with γ = <c>bias_update_speed</c>.</summary>
    public override void AfterOptimizerStep(Action<long[]>? sumOverRanks = null) =>
        LastStepExpertLoads = UpdateRouterBiases(Config.BiasUpdateSpeed, sumOverRanks);

    /// <summary>Max/mean expert load per MoE layer (main layers, then MTP modules) of the last optimizer step (DeepSeek-V3 §2.1.2).</summary>
    public override IReadOnlyList<double> ExpertLoadImbalance =>
        LastStepExpertLoads.Select(counts => counts.Sum() == 0 ? 1.0 : counts.Max() / counts.Average()).ToList();

    /// <summary>
    /// Auxiliary-loss-free balancing after an optimizer step: every MoE layer's bias moves by γ·sign(mean − load) using the
    /// token counts gathered since the last call. <paramref name="sumOverRanks"/> (data-parallel replicas) sums the counts of
    /// all MoE layers over the replicas in one call first, so every replica sees the global load and moves its biases alike.
    /// Returns the counts per MoE layer (for load statistics).
    /// </summary>
    public List<long[]> UpdateRouterBiases(double gamma, Action<long[]>? sumOverRanks = null)
    {
        var loads = MoeLayers.Select(moe => moe.TakeLoadCounts()).ToList();
        if (sumOverRanks is not null && loads.Count > 0)
        {
            var all = loads.SelectMany(c => c).ToArray();                                   // (layers · E) one collective
            sumOverRanks(all);
            int at = 0;
            foreach (var counts in loads) { Array.Copy(all, at, counts, 0, counts.Length); at += counts.Length; }
        }
        foreach (var (moe, counts) in MoeLayers.Zip(loads))
            if (gamma != 0 && counts.Sum() > 0) { using var c = torch.tensor(counts); moe.Gate.ApplyBiasUpdate(c, gamma); }
        return loads;
    }
}

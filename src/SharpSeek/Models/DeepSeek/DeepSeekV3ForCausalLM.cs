using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;
using SharpSeek.Training;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// DeepSeek-V3 causal language model (DeepSeek-AI 2024, arXiv:2412.19437): MLA + DeepSeekMoE decoder, untied lm_head,
/// optional multi-token-prediction modules used for training. State-dict names equal the Hugging Face ones.
/// </summary>
public sealed partial class DeepSeekV3ForCausalLM : nn.Module<Tensor, Tensor>, ICausalLM, ITrainableLM
{
    [ComponentName(Name = "model")] private readonly DeepSeekV3Model _model;
    [ComponentName(Name = "lm_head")] private readonly Linear _lmHead;   // (V, D)
    private AttentionImpl _impl = AttentionImpl.Naive;

    public DeepSeekV3Config Config { get; }

    /// <summary>A randomly initialised model (normal(0, initializer_range) weights, unit norms, zero gate bias).</summary>
    public DeepSeekV3ForCausalLM(DeepSeekV3Config config) : base(nameof(DeepSeekV3ForCausalLM))
    {
        config.Validate();
        Config = config;
        _model = new DeepSeekV3Model(config);
        _lmHead = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
        InitWeights();
    }

    public DeepSeekV3Model Model => _model;
    public int VocabSize => Config.VocabSize;
    public int MaxSequenceLength => Config.MaxPositionEmbeddings;
    public Device Device => _lmHead.weight!.device;

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

    /// <summary>Logits (B, T, V) of the main head for ids (B, T); positions 0..T-1, no cache. The training entry point.</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = torch.NewDisposeScope();
        var h = _model.Hidden(ids, null, null, null);                                      // (B, T, D)
        return _lmHead.call(_model.Norm.call(h)).MoveToOuterDisposeScope();                // (B, T, V)
    }

    public Tensor Forward(Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null)
    {
        if (cache is not null and not MlaKvCache) throw new ArgumentException($"DeepSeek-V3 needs an {nameof(MlaKvCache)}, got {cache.GetType().Name}", nameof(cache));
        using var scope = torch.NewDisposeScope();
        var h = _model.Hidden(inputIds, cache as MlaKvCache, attentionMask, null);         // (B, T, D)
        return _lmHead.call(_model.Norm.call(h)).MoveToOuterDisposeScope();                // (B, T, V)
    }

    /// <summary>Logits (B, T, V) plus the fixtures' debug tensors and routing in <paramref name="trace"/>.</summary>
    public Tensor ForwardTraced(Tensor ids, DeepSeekTrace trace)
    {
        using var scope = torch.NewDisposeScope();
        var h = _model.Hidden(ids, null, null, trace);                                     // (B, T, D)
        return _lmHead.call(_model.Norm.call(h)).MoveToOuterDisposeScope();                // (B, T, V)
    }

    public KvCache CreateKvCache(int batchSize, int capacity) =>
        new MlaKvCache(Config.NumHiddenLayers, batchSize, capacity, Config.KvLoraRank, Config.QkRopeHeadDim, Device, _lmHead.weight!.dtype);

    /// <summary>
    /// Training loss for ids (B, T) and next-token targets (B, T) (entries <see cref="LanguageModelLoss.IgnoreIndex"/> ignored): CE of the main head
    /// + λ/D·Σ_k CE of MTP depth k (predicting targets shifted by k) + the MoE sequence-wise balance losses (if α > 0).
    /// </summary>
    public Tensor ComputeLoss(Tensor ids, Tensor targets)
    {
        using var scope = torch.NewDisposeScope();
        long b = ids.shape[0], t = ids.shape[1];
        var h = _model.Hidden(ids, null, null, null);                                      // (B, T, D)
        var logits = _lmHead.call(_model.Norm.call(h));                                    // (B, T, V)
        var loss = CrossEntropy(logits, targets);
        int depth = _model.Mtp.Count;
        if (depth > 0 && Config.MtpLossWeight > 0)
        {
            Tensor? mtpSum = null;
            var previous = h;
            for (int k = 1; k <= depth && k < t; k++)
            {
                long len = t - k;
                var embedded = _model.EmbedTokens.call(ids.narrow(1, k, len));             // (B, T−k, D) tokens t_{i+k}
                var ctx = _model.Context(b, len, 0, null, ids.device);
                previous = _model.Mtp[k - 1].call(embedded, previous.narrow(1, 0, len), ctx);   // (B, T−k, D)
                var mtpLogits = _lmHead.call(_model.Mtp[k - 1].SharedHead.call(previous));   // (B, T−k, V)
                var ce = CrossEntropy(mtpLogits, targets.narrow(1, k, len));               // predicts t_{i+k+1}
                mtpSum = mtpSum is null ? ce : mtpSum + ce;
            }
            if (mtpSum is not null) loss = loss + mtpSum * (Config.MtpLossWeight / depth);
        }
        foreach (var moe in MoeLayers)
            foreach (var aux in moe.TakeBalanceLosses()) { loss = loss + aux; aux.Dispose(); }
        return loss.MoveToOuterDisposeScope();
    }

    private static Tensor CrossEntropy(Tensor logits, Tensor targets) =>
        LanguageModelLoss.CrossEntropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1));   // (B·T, V)

    /// <summary>Per-expert token counts (one array per MoE layer) of the last completed optimizer step, for load statistics.</summary>
    public IReadOnlyList<long[]> LastStepExpertLoads { get; private set; } = [];

    /// <summary>After each optimizer step: auxiliary-loss-free bias update with γ = <c>bias_update_speed</c>.</summary>
    public void AfterOptimizerStep() => LastStepExpertLoads = UpdateRouterBiases(Config.BiasUpdateSpeed);

    /// <summary>
    /// Auxiliary-loss-free balancing after an optimizer step: every MoE layer's bias moves by γ·sign(mean − load) using the
    /// token counts gathered since the last call. Returns those counts per MoE layer (for load statistics).
    /// </summary>
    public List<long[]> UpdateRouterBiases(double gamma)
    {
        var loads = new List<long[]>();
        foreach (var moe in MoeLayers)
        {
            var counts = moe.TakeLoadCounts();
            loads.Add(counts);
            if (gamma != 0 && counts.Sum() > 0) { using var c = torch.tensor(counts); moe.Gate.ApplyBiasUpdate(c, gamma); }
        }
        return loads;
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Models.DeepSeek;

/// <summary>YaRN context extension (<c>rope_scaling</c> of HF DeepseekV3Config). Peng et al. 2023, "YaRN".</summary>
public sealed record YarnRopeScaling
{
    [JsonPropertyName("type")] public string Type { get; init; } = "yarn";
    [JsonPropertyName("factor")] public double Factor { get; init; } = 1.0;
    [JsonPropertyName("original_max_position_embeddings")] public int OriginalMaxPositionEmbeddings { get; init; } = 4096;
    [JsonPropertyName("beta_fast")] public double BetaFast { get; init; } = 32;
    [JsonPropertyName("beta_slow")] public double BetaSlow { get; init; } = 1;
    [JsonPropertyName("mscale")] public double Mscale { get; init; } = 1.0;
    [JsonPropertyName("mscale_all_dim")] public double MscaleAllDim { get; init; } = 1.0;
}

/// <summary>
/// Hugging Face DeepseekV3Config subset (DeepSeek-AI 2024, "DeepSeek-V3 Technical Report"). Defaults: a tiny test model.
/// <c>q_lora_rank</c> null or 0 means no query compression (plain <c>q_proj</c>).
/// </summary>
public sealed record DeepSeekV3Config
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "deepseek_v3";
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = ["DeepseekV3ForCausalLM"];
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 512;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 64;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 128;
    [JsonPropertyName("moe_intermediate_size")] public int MoeIntermediateSize { get; init; } = 32;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 3;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 4;
    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; } = 4;
    [JsonPropertyName("n_shared_experts")] public int NSharedExperts { get; init; } = 1;
    [JsonPropertyName("n_routed_experts")] public int NRoutedExperts { get; init; } = 8;
    [JsonPropertyName("routed_scaling_factor")] public double RoutedScalingFactor { get; init; } = 2.5;
    [JsonPropertyName("kv_lora_rank")] public int KvLoraRank { get; init; } = 32;
    [JsonPropertyName("q_lora_rank")] public int? QLoraRank { get; init; } = 32;
    [JsonPropertyName("qk_rope_head_dim")] public int QkRopeHeadDim { get; init; } = 8;
    [JsonPropertyName("qk_nope_head_dim")] public int QkNopeHeadDim { get; init; } = 16;
    [JsonPropertyName("v_head_dim")] public int VHeadDim { get; init; } = 16;
    [JsonPropertyName("n_group")] public int NGroup { get; init; } = 2;
    [JsonPropertyName("topk_group")] public int TopkGroup { get; init; } = 1;
    [JsonPropertyName("num_experts_per_tok")] public int NumExpertsPerTok { get; init; } = 2;
    [JsonPropertyName("first_k_dense_replace")] public int FirstKDenseReplace { get; init; } = 1;
    [JsonPropertyName("moe_layer_freq")] public int MoeLayerFreq { get; init; } = 1;
    [JsonPropertyName("norm_topk_prob")] public bool NormTopkProb { get; init; } = true;
    [JsonPropertyName("scoring_func")] public string ScoringFunc { get; init; } = "sigmoid";
    [JsonPropertyName("topk_method")] public string TopkMethod { get; init; } = "noaux_tc";
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rope_scaling")] public YarnRopeScaling? RopeScaling { get; init; }
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 128;
    /// <summary>Number D of multi-token-prediction modules (stored as layers num_hidden_layers .. +D-1).</summary>
    [JsonPropertyName("num_nextn_predict_layers")] public int NumNextnPredictLayers { get; init; }
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    /// <summary>Sequence-wise balance loss weight α (DeepSeek-V3 eq. 17–20); 0 = off.</summary>
    [JsonPropertyName("aux_loss_alpha")] public double AuxLossAlpha { get; init; }
    /// <summary>Weight λ of the multi-token-prediction loss: loss = CE_main + λ/D·Σ CE_k (DeepSeek-V3 eq. 25).</summary>
    [JsonPropertyName("mtp_loss_weight")] public double MtpLossWeight { get; init; } = 0.3;
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; init; }
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";

    /// <summary>Query compression rank, 0 when queries are not compressed (q_lora_rank null or 0).</summary>
    [JsonIgnore] public int QRank => QLoraRank ?? 0;
    /// <summary>Per-head query/key width n + r.</summary>
    [JsonIgnore] public int QkHeadDim => QkNopeHeadDim + QkRopeHeadDim;
    /// <summary>True for layers that use DeepSeekMoE instead of the dense MLP.</summary>
    public bool IsMoeLayer(int layer) => NRoutedExperts > 0 && layer >= FirstKDenseReplace && layer % MoeLayerFreq == 0;

    /// <summary>Attention scale (n+r)^-0.5, times mscale² when YaRN is on.</summary>
    [JsonIgnore]
    public double SoftmaxScale
    {
        get
        {
            double s = 1.0 / Math.Sqrt(QkHeadDim);
            if (RopeScaling is { } y && y.Factor > 1)
            {
                double m = 0.1 * y.MscaleAllDim * Math.Log(y.Factor) + 1.0;
                s *= m * m;
            }
            return s;
        }
    }

    /// <summary>Throws <see cref="ConfigException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        static void Need(bool ok, string message) { if (!ok) throw new ConfigException(message); }
        Need(ModelType == "deepseek_v3", $"model_type is '{ModelType}', expected 'deepseek_v3'");
        Need(VocabSize > 0, $"vocab_size ({VocabSize}) must be positive");
        Need(HiddenSize > 0, $"hidden_size ({HiddenSize}) must be positive");
        Need(NumHiddenLayers > 0, $"num_hidden_layers ({NumHiddenLayers}) must be positive");
        Need(NumAttentionHeads > 0, $"num_attention_heads ({NumAttentionHeads}) must be positive");
        Need(IntermediateSize > 0, $"intermediate_size ({IntermediateSize}) must be positive");
        Need(KvLoraRank > 0, $"kv_lora_rank ({KvLoraRank}) must be positive");
        Need(QRank >= 0, $"q_lora_rank ({QRank}) must be null, 0 or positive");
        Need(QkNopeHeadDim > 0 && VHeadDim > 0, $"qk_nope_head_dim ({QkNopeHeadDim}) and v_head_dim ({VHeadDim}) must be positive");
        Need(QkRopeHeadDim > 0 && QkRopeHeadDim % 2 == 0, $"qk_rope_head_dim ({QkRopeHeadDim}) must be positive and even (RoPE rotates pairs)");
        Need(MaxPositionEmbeddings > 0, $"max_position_embeddings ({MaxPositionEmbeddings}) must be positive");
        Need(RopeTheta > 0, $"rope_theta ({RopeTheta}) must be positive");
        Need(RmsNormEps > 0, $"rms_norm_eps ({RmsNormEps}) must be positive");
        Need(HiddenAct == "silu", $"hidden_act '{HiddenAct}' is not supported (only 'silu')");
        Need(!AttentionBias, "attention_bias true is not supported (DeepSeek-V3 has no attention biases)");
        Need(!TieWordEmbeddings, "tie_word_embeddings true is not supported (DeepSeek-V3 has a separate lm_head)");
        Need(FirstKDenseReplace >= 0, $"first_k_dense_replace ({FirstKDenseReplace}) must be >= 0");
        Need(NumNextnPredictLayers >= 0, $"num_nextn_predict_layers ({NumNextnPredictLayers}) must be >= 0");
        Need(MtpLossWeight >= 0, $"mtp_loss_weight ({MtpLossWeight}) must be >= 0");
        Need(AuxLossAlpha >= 0, $"aux_loss_alpha ({AuxLossAlpha}) must be >= 0");
        if (RopeScaling is { } y)
        {
            Need(y.Type == "yarn", $"rope_scaling.type '{y.Type}' is not supported (only 'yarn')");
            Need(y.Factor >= 1, $"rope_scaling.factor ({y.Factor}) must be >= 1");
            Need(y.OriginalMaxPositionEmbeddings > 0, $"rope_scaling.original_max_position_embeddings ({y.OriginalMaxPositionEmbeddings}) must be positive");
            Need(y.BetaFast > 0 && y.BetaSlow > 0 && y.BetaFast >= y.BetaSlow, $"rope_scaling beta_fast ({y.BetaFast}) must be >= beta_slow ({y.BetaSlow}) > 0");
        }
        if (NRoutedExperts > 0 && NumHiddenLayers > FirstKDenseReplace)
        {
            Need(MoeIntermediateSize > 0, $"moe_intermediate_size ({MoeIntermediateSize}) must be positive");
            Need(NSharedExperts >= 0, $"n_shared_experts ({NSharedExperts}) must be >= 0");
            Need(MoeLayerFreq == 1, $"moe_layer_freq ({MoeLayerFreq}) is not supported (only 1)");
            Need(ScoringFunc == "sigmoid", $"scoring_func '{ScoringFunc}' is not supported (only 'sigmoid')");
            Need(TopkMethod == "noaux_tc", $"topk_method '{TopkMethod}' is not supported (only 'noaux_tc')");
            Need(NormTopkProb, "norm_topk_prob false is not supported");
            Need(NumExpertsPerTok > 0, $"num_experts_per_tok ({NumExpertsPerTok}) must be positive");
            Need(NumExpertsPerTok <= NRoutedExperts, $"num_experts_per_tok ({NumExpertsPerTok}) is larger than n_routed_experts ({NRoutedExperts})");
            Need(NGroup > 0, $"n_group ({NGroup}) must be positive");
            Need(NRoutedExperts % NGroup == 0, $"n_routed_experts ({NRoutedExperts}) is not divisible by n_group ({NGroup})");
            Need(TopkGroup > 0 && TopkGroup <= NGroup, $"topk_group ({TopkGroup}) must be between 1 and n_group ({NGroup})");
            int perGroup = NRoutedExperts / NGroup;
            Need(NGroup == 1 || perGroup >= 2, $"n_group ({NGroup}) leaves {perGroup} expert per group; group scores need at least 2");
            Need(TopkGroup * perGroup >= NumExpertsPerTok,
                $"topk_group ({TopkGroup}) groups of {perGroup} experts cannot supply num_experts_per_tok ({NumExpertsPerTok}) experts");
            Need(RoutedScalingFactor > 0, $"routed_scaling_factor ({RoutedScalingFactor}) must be positive");
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    /// <summary>Reads and validates a config.json; throws <see cref="ConfigException"/> on a bad file.</summary>
    public static DeepSeekV3Config Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: config file not found");
        DeepSeekV3Config? config;
        try { config = JsonSerializer.Deserialize<DeepSeekV3Config>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ConfigException($"{path}: not a valid DeepSeek-V3 config ({e.Message})"); }
        if (config is null) throw new ConfigException($"{path}: empty config");
        try { config.Validate(); }
        catch (ConfigException e) { throw new ConfigException($"{path}: {e.Message}"); }
        return config;
    }

    /// <summary>Serialises to HF config.json text.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Writes config.json text to <paramref name="path"/> via a temporary file and rename.</summary>
    public void Save(string path)
    {
        string full = Path.GetFullPath(path);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        File.WriteAllText(tmp, ToJson());
        File.Move(tmp, full, overwrite: true);
    }
}

/// <summary>How MLA attention is computed: materialise per-head k/v, or fold kv_b_proj into q and the output. DeepSeek-V2 §2.1.</summary>
public enum AttentionImpl { Naive, Absorbed }

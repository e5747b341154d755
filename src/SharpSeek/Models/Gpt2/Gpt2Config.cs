using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Models.Gpt2;

/// <summary>Hugging Face <c>GPT2Config</c> subset (config.json keys). Defaults: GPT-2 124M (Radford et al. 2019).</summary>
public sealed record Gpt2Config
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "gpt2";
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = ["GPT2LMHeadModel"];
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 50257;
    [JsonPropertyName("n_positions")] public int NPositions { get; init; } = 1024;
    [JsonPropertyName("n_embd")] public int NEmbd { get; init; } = 768;
    [JsonPropertyName("n_layer")] public int NLayer { get; init; } = 12;
    [JsonPropertyName("n_head")] public int NHead { get; init; } = 12;
    /// <summary>MLP width; null means 4 × n_embd.</summary>
    [JsonPropertyName("n_inner")] public int? NInner { get; init; }
    [JsonPropertyName("activation_function")] public string ActivationFunction { get; init; } = "gelu_new";
    [JsonPropertyName("resid_pdrop")] public double ResidPdrop { get; init; } = 0.0;
    [JsonPropertyName("embd_pdrop")] public double EmbdPdrop { get; init; } = 0.0;
    [JsonPropertyName("attn_pdrop")] public double AttnPdrop { get; init; } = 0.0;
    [JsonPropertyName("layer_norm_epsilon")] public double LayerNormEpsilon { get; init; } = 1e-5;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;
    [JsonPropertyName("scale_attn_weights")] public bool ScaleAttnWeights { get; init; } = true;
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; } = 50256;
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; init; } = 50256;

    /// <summary>MLP hidden width.</summary>
    [JsonIgnore] public int InnerSize => NInner ?? 4 * NEmbd;

    /// <summary>Activations this implementation knows, by their Hugging Face names.</summary>
    public static readonly IReadOnlyList<string> SupportedActivations = ["gelu_new", "gelu_pytorch_tanh", "gelu", "relu"];

    /// <summary>Throws <see cref="ConfigException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        if (ModelType != "gpt2") throw new ConfigException($"model_type is '{ModelType}', expected 'gpt2'");
        if (VocabSize <= 0) throw new ConfigException($"vocab_size must be positive (got {VocabSize})");
        if (NPositions <= 0) throw new ConfigException($"n_positions must be positive (got {NPositions})");
        if (NLayer <= 0) throw new ConfigException($"n_layer must be positive (got {NLayer})");
        if (NHead <= 0) throw new ConfigException($"n_head must be positive (got {NHead})");
        if (NEmbd <= 0 || NEmbd % NHead != 0) throw new ConfigException($"n_embd ({NEmbd}) must be a positive multiple of n_head ({NHead})");
        if (NInner is <= 0) throw new ConfigException($"n_inner must be positive or null (got {NInner})");
        if (!SupportedActivations.Contains(ActivationFunction))
            throw new ConfigException($"activation_function '{ActivationFunction}' is not supported (use one of: {string.Join(", ", SupportedActivations)})");
        foreach (var (name, p) in new[] { ("resid_pdrop", ResidPdrop), ("embd_pdrop", EmbdPdrop), ("attn_pdrop", AttnPdrop) })
            if (p is < 0 or >= 1) throw new ConfigException($"{name} must be in [0, 1) (got {p})");
        if (LayerNormEpsilon <= 0) throw new ConfigException($"layer_norm_epsilon must be positive (got {LayerNormEpsilon})");
        if (!ScaleAttnWeights) throw new ConfigException("scale_attn_weights=false is not supported");
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    /// <summary>Reads and validates a config.json.</summary>
    public static Gpt2Config Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: config file not found");
        Gpt2Config? config;
        try { config = JsonSerializer.Deserialize<Gpt2Config>(File.ReadAllText(path), JsonOptions); }
        catch (JsonException e) { throw new ConfigException($"{path}: invalid config ({e.Message})"); }
        if (config is null) throw new ConfigException($"{path}: config is empty");
        if (config.ModelType != "gpt2") throw new ConfigException($"{path}: model_type is '{config.ModelType}', expected 'gpt2'");
        try { config.Validate(); }
        catch (ConfigException e) { throw new ConfigException($"{path}: {e.Message}"); }
        return config;
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}

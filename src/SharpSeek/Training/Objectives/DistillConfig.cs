using System.Globalization;
using System.Text.Json.Serialization;

namespace SharpSeek.Training.Objectives;

/// <summary>One teacher: a model folder and its share of the mixed target distribution.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record TeacherConfig
{
    /// <summary>Model folder (config.json, weights, tokenizer files).</summary>
    [JsonPropertyName("path")] public string Path { get; init; } = "";

    /// <summary>Positive weight; the weights of all teachers are normalised to sum 1.</summary>
    [JsonPropertyName("weight")] public double Weight { get; init; } = 1.0;
}

/// <summary>The teacher cache: top-k teacher log-probabilities per training position, computed once and read by the student.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record DistillCacheConfig
{
    /// <summary>Folder of the cache file (<see cref="TeacherCache.FileName"/>); built when absent, read when its identity matches.</summary>
    [JsonPropertyName("dir")] public string Dir { get; init; } = "";

    /// <summary>Ids kept per position (the teacher distribution is renormalised over them).</summary>
    [JsonPropertyName("top_k")] public int TopK { get; init; } = 16;
}

/// <summary>
/// Knowledge distillation settings (the <c>distill</c> section of a training config, <c>sharpseek distill</c>): the
/// teachers, the soft-label loss α·CE + (1 − α)·τ²·D(teacher, student) and its divergence D, the data (token windows of
/// data_dir, or the <c>sft</c> section's chat JSONL with assistant-only loss) and an optional top-k teacher cache.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record DistillConfig
{
    /// <summary>Teacher model folders and weights; several teachers give the weighted average of their distributions at τ.</summary>
    [JsonPropertyName("teachers")] public IReadOnlyList<TeacherConfig> Teachers { get; init; } = [];

    /// <summary>Softmax temperature τ of teacher and student.</summary>
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = 2.0;

    /// <summary>Weight α of the hard-label cross-entropy; 1 − α weighs τ²·D.</summary>
    [JsonPropertyName("alpha")] public double Alpha { get; init; } = 0.5;

    /// <summary>"forward" (KL(teacher ‖ student)), "reverse" (KL(student ‖ teacher)) or "mix" (mix_weight·forward + (1 − mix_weight)·reverse).</summary>
    [JsonPropertyName("kl")] public string Kl { get; init; } = "forward";

    /// <summary>λ of kl = "mix".</summary>
    [JsonPropertyName("mix_weight")] public double MixWeight { get; init; } = 0.5;

    /// <summary>"text": random token windows of data_dir (aligned windows with a cache); "sft": the sft section's JSONL, loss on assistant tokens only.</summary>
    [JsonPropertyName("data")] public string Data { get; init; } = "text";

    /// <summary>Top-k teacher cache; null = the teachers run at every step.</summary>
    [JsonPropertyName("cache")] public DistillCacheConfig? Cache { get; init; }

    /// <summary>The divergence <see cref="Kl"/> names.</summary>
    [JsonIgnore]
    public DivergenceKind Divergence => Kl switch
    {
        "forward" => DivergenceKind.Forward,
        "reverse" => DivergenceKind.Reverse,
        "mix" => DivergenceKind.Mix,
        _ => throw new ConfigException($"distill.kl must be forward, reverse or mix, got '{Kl}'"),
    };

    /// <summary>The teachers' weights divided by their sum.</summary>
    [JsonIgnore]
    public IReadOnlyList<double> NormalizedWeights => Teachers.Select(t => t.Weight / Teachers.Sum(u => u.Weight)).ToList();

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (Teachers.Count == 0) throw new ConfigException("distill.teachers is empty: give at least one teacher ({\"path\": DIR, \"weight\": 1}) or --teacher DIR");
        for (int i = 0; i < Teachers.Count; i++)
        {
            var t = Teachers[i] ?? throw new ConfigException($"distill.teachers[{i}] is null");
            if (string.IsNullOrWhiteSpace(t.Path)) throw new ConfigException($"distill.teachers[{i}].path must name a model folder");
            if (!(t.Weight > 0) || !double.IsFinite(t.Weight)) throw new ConfigException($"distill.teachers[{i}].weight must be positive, got {t.Weight.ToString(CultureInfo.InvariantCulture)}");
        }
        if (!(Temperature > 0) || !double.IsFinite(Temperature)) throw new ConfigException($"distill.temperature must be positive, got {Temperature.ToString(CultureInfo.InvariantCulture)}");
        if (!(Alpha is >= 0 and <= 1)) throw new ConfigException($"distill.alpha must be in [0, 1], got {Alpha.ToString(CultureInfo.InvariantCulture)}");
        _ = Divergence;
        if (!(MixWeight is >= 0 and <= 1)) throw new ConfigException($"distill.mix_weight must be in [0, 1], got {MixWeight.ToString(CultureInfo.InvariantCulture)}");
        if (Data is not ("text" or "sft")) throw new ConfigException($"distill.data must be text or sft, got '{Data}'");
        if (Cache is not null)
        {
            if (string.IsNullOrWhiteSpace(Cache.Dir)) throw new ConfigException("distill.cache.dir must name a folder");
            if (Cache.TopK < 1) throw new ConfigException($"distill.cache.top_k must be at least 1, got {Cache.TopK}");
        }
    }
}

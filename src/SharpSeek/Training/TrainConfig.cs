using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace SharpSeek.Training;

/// <summary>
/// Everything one training run needs (nanoGPT's train.py settings, same names). Loaded from configs/*.json,
/// overridden per key (<c>--set key=value</c>), saved resolved with every checkpoint.
/// </summary>
public sealed record TrainConfig
{
    // --- model ---
    /// <summary>Model family when training from scratch: "gpt2" (DeepSeek registers its own).</summary>
    [JsonPropertyName("arch")] public string Arch { get; init; } = "gpt2";
    /// <summary>Folder of a pretrained model (Hugging Face layout) to fine-tune; null = random init from the fields below.</summary>
    [JsonPropertyName("init_from")] public string? InitFrom { get; init; }
    [JsonPropertyName("n_layer")] public int NLayer { get; init; } = 4;
    [JsonPropertyName("n_head")] public int NHead { get; init; } = 4;
    [JsonPropertyName("n_embd")] public int NEmbd { get; init; } = 128;
    /// <summary>Vocabulary size; 0 = take it from the data set (rounded up to a multiple of 64 for GPT-2).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("dropout")] public double Dropout { get; init; }

    // --- DeepSeek (arch = "deepseek"; DeepSeek-AI 2024) ---
    /// <summary>DeepSeek preset (configs/deepseek-NAME.json, e.g. "tiny") or a path to a DeepseekV3Config .json; n_layer, n_head, n_embd, block_size and the keys below override it.</summary>
    [JsonPropertyName("model_preset")] public string ModelPreset { get; init; } = "tiny";
    /// <summary>Further DeepseekV3Config keys over the preset (e.g. n_routed_experts); <c>--set model.KEY=VALUE</c> sets one.</summary>
    [JsonPropertyName("model")] public JsonObject? Model { get; init; }
    /// <summary>γ of auxiliary-loss-free balancing: router bias step after each optimizer step; 0 disables.</summary>
    [JsonPropertyName("bias_update_speed")] public double BiasUpdateSpeed { get; init; } = 1e-3;
    /// <summary>α of the sequence-wise balance loss; 0 (default) disables (the paper uses 1e-4).</summary>
    [JsonPropertyName("aux_loss_alpha")] public double AuxLossAlpha { get; init; }
    /// <summary>λ of the multi-token-prediction loss; 0 disables.</summary>
    [JsonPropertyName("mtp_loss_weight")] public double MtpLossWeight { get; init; } = 0.3;
    /// <summary>D, the number of MTP modules (0 = none).</summary>
    [JsonPropertyName("mtp_depth")] public int MtpDepth { get; init; } = 1;

    // --- data ---
    /// <summary>Folder written by <c>sharpseek data prepare</c> (train.bin, val.bin, meta).</summary>
    [JsonPropertyName("data_dir")] public string DataDir { get; init; } = "";
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 12;
    [JsonPropertyName("block_size")] public int BlockSize { get; init; } = 64;
    [JsonPropertyName("grad_accum")] public int GradAccum { get; init; } = 1;

    // --- length ---
    /// <summary>Optimizer steps (schedule "steps"); with schedule "time" the trainer replaces it by the measured horizon.</summary>
    [JsonPropertyName("max_steps")] public int MaxSteps { get; init; } = 2000;
    /// <summary>
    /// Wall-clock budget; 0 = none. Past it no step and no evaluation starts (a running evaluation stops early, with
    /// fewer batches) and a checkpoint is written.
    /// </summary>
    [JsonPropertyName("max_minutes")] public double MaxMinutes { get; init; }
    /// <summary>
    /// "steps": the cosine ends at lr_decay_steps (or max_steps). "time" (needs max_minutes): after the warm-up the
    /// trainer measures its speed and sets max_steps (and lr_decay_steps = max_steps − 1) so that min_lr is reached at the deadline
    /// (<see cref="TimeBudget"/>); a resumed run keeps that horizon.
    /// </summary>
    [JsonPropertyName("schedule")] public string Schedule { get; init; } = "steps";

    // --- optimizer (AdamW, Loshchilov &amp; Hutter 2019) and schedule ---
    [JsonPropertyName("lr")] public double Lr { get; init; } = 1e-3;
    [JsonPropertyName("min_lr")] public double MinLr { get; init; } = 1e-4;
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 100;
    /// <summary>Step at which the cosine reaches min_lr; 0 = max_steps.</summary>
    [JsonPropertyName("lr_decay_steps")] public int LrDecaySteps { get; init; }
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.1;
    /// <summary>Also decay embedding tables (nanoGPT does, since they are 2-D); off by default.</summary>
    [JsonPropertyName("decay_embeddings")] public bool DecayEmbeddings { get; init; }
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.99;
    [JsonPropertyName("eps")] public double Eps { get; init; } = 1e-8;
    /// <summary>Global gradient-norm clip; 0 = off.</summary>
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;

    // --- run ---
    [JsonPropertyName("seed")] public int Seed { get; init; } = 1337;
    /// <summary>
    /// "auto" (bf16 where the CPU multiplies bf16 natively: AVX512_BF16 or AMX-BF16; fp32 elsewhere), "fp32", or "bf16"
    /// (bf16 matmuls, fp32 master weights, norms, softmax and loss; emulated and far slower on CPUs without native bf16).
    /// </summary>
    [JsonPropertyName("precision")] public string Precision { get; init; } = "auto";
    /// <summary>
    /// Data-parallel runs only: gradient buckets all-reduced as "fp32" or "bf16" (half the bytes; each rank's gradient is
    /// rounded to bf16 and summed with correctly rounded bf16 additions, the mean taken in fp32; docs/distributed.md).
    /// </summary>
    [JsonPropertyName("grad_reduce_dtype")] public string GradReduceDType { get; init; } = "fp32";
    /// <summary>
    /// Data-parallel runs only: a rank whose blocking MPI call (all-reduce, broadcast, ...) waits longer than this ends
    /// itself (exit 2) so mpirun ends the job, instead of every rank waiting forever for one that hangs. 0 = off. Must
    /// exceed the longest legitimate wait: the other ranks wait while rank 0 evaluates and writes a checkpoint.
    /// </summary>
    [JsonPropertyName("collective_timeout_minutes")] public double CollectiveTimeoutMinutes { get; init; } = 30;
    /// <summary>CPU threads for LibTorch; 0 = leave LibTorch's default.</summary>
    [JsonPropertyName("threads")] public int Threads { get; init; }
    /// <summary>
    /// Data-parallel runs (mpirun): 0 = every rank keeps the whole AdamW state; 1 = ZeRO stage 1 (Rajbhandari et al. 2020),
    /// each of N ranks keeps the moments of its 1/N slice of the parameters. One process ignores it (docs/distributed.md).
    /// </summary>
    [JsonPropertyName("zero_stage")] public int ZeroStage { get; init; }
    [JsonPropertyName("eval_interval")] public int EvalInterval { get; init; } = 250;
    [JsonPropertyName("eval_iters")] public int EvalIters { get; init; } = 20;
    [JsonPropertyName("log_interval")] public int LogInterval { get; init; } = 10;
    /// <summary>Steps between checkpoints; 0 = only at evaluations and at the end.</summary>
    [JsonPropertyName("checkpoint_interval")] public int CheckpointInterval { get; init; }
    [JsonPropertyName("keep_last")] public int KeepLast { get; init; } = 2;
    [JsonPropertyName("out_dir")] public string OutDir { get; init; } = "out";

    // --- fine-tuning objectives and adapters (each null unless its verb or the config sets it) ---
    /// <summary>LoRA adapters (PEFT's adapter_config.json fields): when set, only the adapters train, on any objective.</summary>
    [JsonPropertyName("lora")] public SharpSeek.Models.Common.LoraConfig? Lora { get; init; }
    /// <summary>Supervised fine-tuning on chat or prompt/completion JSONL (<c>sharpseek sft</c>).</summary>
    [JsonPropertyName("sft")] public SharpSeek.Training.Objectives.SftConfig? Sft { get; init; }
    /// <summary>Preference pairs for the reward model and DPO (<c>sharpseek reward</c>, <c>sharpseek dpo</c>).</summary>
    [JsonPropertyName("preference")] public SharpSeek.Training.Objectives.PreferenceConfig? Preference { get; init; }
    /// <summary>RLHF with PPO (<c>sharpseek ppo</c>).</summary>
    [JsonPropertyName("ppo")] public SharpSeek.Training.Objectives.PpoConfig? Ppo { get; init; }
    /// <summary>GRPO with rule rewards and an optional curriculum (<c>sharpseek grpo</c>).</summary>
    [JsonPropertyName("grpo")] public SharpSeek.Training.Objectives.GrpoConfig? Grpo { get; init; }
    /// <summary>Knowledge distillation from one or several teachers (<c>sharpseek distill</c>).</summary>
    [JsonPropertyName("distill")] public SharpSeek.Training.Objectives.DistillConfig? Distill { get; init; }

    /// <summary>Fields that fix the shape of the model: a checkpoint resumes only with the same values.</summary>
    public static readonly string[] ModelShapeKeys = ["arch", "init_from", "n_layer", "n_head", "n_embd", "vocab_size", "block_size", "model_preset", "model", "mtp_depth", "lora"];

    [JsonIgnore] public int DecaySteps => LrDecaySteps > 0 ? LrDecaySteps : MaxSteps;
    [JsonIgnore] public int TokensPerStep => BatchSize * BlockSize * GradAccum;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ConfigException(message); }
        Check(InitFrom is not null || Arch.Length > 0, "arch must name a model family (e.g. gpt2) unless init_from is set");
        Check(InitFrom is not null || (NLayer > 0 && NHead > 0 && NEmbd > 0), "n_layer, n_head and n_embd must be positive");
        Check(InitFrom is not null || NEmbd % NHead == 0, $"n_embd ({NEmbd}) must be divisible by n_head ({NHead})");
        Check(VocabSize >= 0, "vocab_size must be 0 (from the data) or positive");
        Check(Dropout is >= 0 and < 1, $"dropout must be in [0, 1), got {Dropout}");
        Check(BatchSize > 0, $"batch_size must be positive, got {BatchSize}");
        Check(BlockSize > 0, $"block_size must be positive, got {BlockSize}");
        Check(GradAccum > 0, $"grad_accum must be positive, got {GradAccum}");
        Check(MaxSteps > 0, $"max_steps must be positive, got {MaxSteps}");
        Check(MaxMinutes >= 0, $"max_minutes must be 0 (no limit) or positive, got {MaxMinutes}");
        Check(Lr > 0 && double.IsFinite(Lr), $"lr must be positive, got {Lr}");
        Check(MinLr >= 0 && MinLr <= Lr, $"min_lr must be in [0, lr], got {MinLr}");
        Check(WarmupSteps >= 0, $"warmup_steps must be 0 or positive, got {WarmupSteps}");
        Check(LrDecaySteps >= 0, $"lr_decay_steps must be 0 (= max_steps) or positive, got {LrDecaySteps}");
        Check(WeightDecay >= 0, $"weight_decay must be 0 or positive, got {WeightDecay}");
        Check(Beta1 is >= 0 and < 1 && Beta2 is >= 0 and < 1, "beta1 and beta2 must be in [0, 1)");
        Check(Eps > 0, $"eps must be positive, got {Eps}");
        Check(GradClip >= 0, $"grad_clip must be 0 (off) or positive, got {GradClip}");
        Check(Precision is "auto" or "fp32" or "bf16", $"precision must be auto, fp32 or bf16, got '{Precision}'");
        Check(GradReduceDType is "fp32" or "bf16", $"grad_reduce_dtype must be fp32 or bf16, got '{GradReduceDType}'");
        Check(CollectiveTimeoutMinutes >= 0 && double.IsFinite(CollectiveTimeoutMinutes),
              $"collective_timeout_minutes must be 0 (off) or positive minutes, got {CollectiveTimeoutMinutes}");
        Check(Schedule is "steps" or "time", $"schedule must be steps or time, got '{Schedule}'");
        Check(Schedule != "time" || MaxMinutes > 0, "schedule time needs max_minutes (the budget the schedule fills)");
        Check(Threads >= 0, $"threads must be 0 (default) or positive, got {Threads}");
        Check(ZeroStage is 0 or 1, $"zero_stage must be 0 (off) or 1 (sharded optimizer state), got {ZeroStage}");
        Check(EvalInterval > 0, $"eval_interval must be positive, got {EvalInterval}");
        Check(EvalIters > 0, $"eval_iters must be positive, got {EvalIters}");
        Check(LogInterval > 0, $"log_interval must be positive, got {LogInterval}");
        Check(CheckpointInterval >= 0, $"checkpoint_interval must be 0 or positive, got {CheckpointInterval}");
        Check(KeepLast > 0, $"keep_last must be at least 1, got {KeepLast}");
        Check(OutDir.Length > 0, "out_dir must not be empty");
        Check(BiasUpdateSpeed >= 0 && double.IsFinite(BiasUpdateSpeed), $"bias_update_speed must be 0 (off) or positive, got {BiasUpdateSpeed}");
        Check(AuxLossAlpha >= 0 && double.IsFinite(AuxLossAlpha), $"aux_loss_alpha must be 0 (off) or positive, got {AuxLossAlpha}");
        Check(MtpLossWeight >= 0 && double.IsFinite(MtpLossWeight), $"mtp_loss_weight must be 0 (off) or positive, got {MtpLossWeight}");
        Check(MtpDepth >= 0, $"mtp_depth must be 0 or positive, got {MtpDepth}");
        Lora?.Validate();
        Sft?.Validate();
        Preference?.Validate();
        Ppo?.Validate();
        Grpo?.Validate();
        Distill?.Validate();
    }

    /// <summary>Reads a JSON config file (snake_case keys; unknown keys are an error).</summary>
    public static TrainConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: config file not found");
        try { return FromJson(JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ConfigException($"{path}: a config must be a JSON object"), path); }
        catch (JsonException e) { throw new ConfigException($"{path}: not valid JSON ({e.Message})"); }
    }

    private static TrainConfig FromJson(JsonObject obj, string source)
    {
        var known = KeyTypes();
        foreach (var (key, _) in obj)
            if (!known.ContainsKey(key)) throw new ConfigException($"{source}: unknown key '{key}' (known: {string.Join(", ", known.Keys)})");
        try { return obj.Deserialize<TrainConfig>(Json)!; }
        catch (JsonException e) { throw new ConfigException($"{source}: {e.Message}"); }
    }

    /// <summary>
    /// Applies <c>key=value</c> overrides (snake_case keys; numbers, true/false, strings; "null" clears init_from).
    /// </summary>
    public TrainConfig WithOverrides(IEnumerable<string> assignments)
    {
        var obj = JsonSerializer.SerializeToNode(this, Json)!.AsObject();
        var types = KeyTypes();
        foreach (var a in assignments)
        {
            int eq = a.IndexOf('=');
            if (eq <= 0) throw new ConfigException($"--set '{a}': expected key=value");
            string key = a[..eq].Trim(), value = a[(eq + 1)..].Trim();
            int dot = key.IndexOf('.');
            if (dot > 0 && dot < key.Length - 1 && types.TryGetValue(key[..dot], out var sectionType) && IsSection(sectionType))
            {
                string section = key[..dot];                     // model.KEY, lora.r, sft.data, ppo.kl_coef, …
                var node = obj[section] as JsonObject ?? new JsonObject();
                node[key[(dot + 1)..]] = ParseJsonLiteral(value);
                obj[section] = node;
                continue;
            }
            if (!types.TryGetValue(key, out var type)) throw new ConfigException($"--set '{a}': unknown key '{key}' (known: {string.Join(", ", types.Keys)})");
            obj[key] = ParseValue(key, value, type);
        }
        return FromJson(obj, "--set");
    }

    /// <summary>A nested object of the config (model, lora, sft, preference, ppo) whose keys --set reaches as SECTION.KEY.</summary>
    private static bool IsSection(Type type) => type == typeof(JsonObject) || (type.IsClass && type != typeof(string));

    private static JsonNode? ParseJsonLiteral(string value)
    {
        try { return JsonNode.Parse(value); }
        catch (JsonException) { return JsonValue.Create(value); }                 // a bare word: a string
    }

    private static JsonNode? ParseValue(string key, string value, Type type)
    {
        var inv = CultureInfo.InvariantCulture;
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (value == "null" && (type == typeof(string) || Nullable.GetUnderlyingType(type) is not null)) return null;
        if (t == typeof(string)) return JsonValue.Create(value);
        if (t == typeof(int) && int.TryParse(value, NumberStyles.Integer, inv, out int i)) return JsonValue.Create(i);
        if (t == typeof(double) && double.TryParse(value, NumberStyles.Float, inv, out double d)) return JsonValue.Create(d);
        if (t == typeof(bool) && bool.TryParse(value, out bool b)) return JsonValue.Create(b);
        throw new ConfigException($"--set {key}={value}: expected {(t == typeof(int) ? "an integer" : t == typeof(double) ? "a number" : t == typeof(bool) ? "true or false" : t.Name)}");
    }

    private static Dictionary<string, Type> KeyTypes() =>
        typeof(TrainConfig).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (p, a: p.GetCustomAttribute<JsonPropertyNameAttribute>()))
            .Where(x => x.a is not null)
            .ToDictionary(x => x.a!.Name, x => x.p.PropertyType);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainConfig FromJsonText(string json, string source) =>
        FromJson(JsonNode.Parse(json) as JsonObject ?? throw new ConfigException($"{source}: a config must be a JSON object"), source);

    /// <summary>Names the first model-shape field that differs from <paramref name="other"/>, or null if the shapes match.</summary>
    public string? ModelShapeDifference(TrainConfig other)
    {
        var a = JsonSerializer.SerializeToNode(this, Json)!.AsObject();
        var b = JsonSerializer.SerializeToNode(other, Json)!.AsObject();
        foreach (var k in ModelShapeKeys)
            if (!JsonNode.DeepEquals(a[k], b[k])) return $"{k}: checkpoint has {a[k]?.ToJsonString() ?? "null"}, config has {b[k]?.ToJsonString() ?? "null"}";
        return null;
    }
}

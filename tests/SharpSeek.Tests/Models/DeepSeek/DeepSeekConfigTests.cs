using System.Text.Json;
using SharpSeek.Models.DeepSeek;

namespace SharpSeek.Tests.Models.DeepSeek;

public sealed class DeepSeekConfigTests
{
    private static readonly Dictionary<string, (DeepSeekV3Config Config, string Fragment)> Bad = new()
    {
        ["experts_per_tok_above_experts"] = (new DeepSeekV3Config { NumExpertsPerTok = 9 }, "num_experts_per_tok"),
        ["experts_not_divisible_by_groups"] = (new DeepSeekV3Config { NGroup = 3 }, "not divisible by n_group"),
        ["topk_group_above_n_group"] = (new DeepSeekV3Config { TopkGroup = 3 }, "topk_group"),
        ["odd_rope_dim"] = (new DeepSeekV3Config { QkRopeHeadDim = 7 }, "qk_rope_head_dim"),
        ["gelu_activation"] = (new DeepSeekV3Config { HiddenAct = "gelu" }, "hidden_act"),
        ["one_expert_per_group"] = (new DeepSeekV3Config { NGroup = 8, TopkGroup = 1 }, "at least 2"),
        ["zero_kv_lora_rank"] = (new DeepSeekV3Config { KvLoraRank = 0 }, "kv_lora_rank"),
        ["linear_rope_scaling"] = (new DeepSeekV3Config { RopeScaling = new YarnRopeScaling { Type = "linear" } }, "rope_scaling.type"),
    };

    public static IEnumerable<object[]> BadConfigs() => Bad.Keys.Select(k => new object[] { k });

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void Validate_InconsistentConfig_ThrowsConfigExceptionNamingField(string problem)
    {
        var (config, fragment) = Bad[problem];
        var e = Assert.Throws<ConfigException>(config.Validate);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void Validate_DefaultConfig_Passes() => new DeepSeekV3Config().Validate();

    [Fact]
    public void Load_FixtureConfigWithNullQLoraAndYarn_ParsesFields()
    {
        string dir = DeepSeekFixtures.CaseDir("dsv3_noqlora_yarn4_long");
        var c = DeepSeekV3Config.Load(Path.Combine(dir, "config.json"));
        Assert.Equal(0, c.QRank);
        Assert.NotNull(c.RopeScaling);
        Assert.Equal(4.0, c.RopeScaling!.Factor);
        Assert.Equal(32, c.RopeScaling.OriginalMaxPositionEmbeddings);

        // softmax_scale = (n + r)^-0.5 · m², m = 0.1 · mscale_all_dim · ln(factor) + 1 (YaRN), from the raw config.json fields:
        // (16 + 8)^-0.5 · (0.1 · 1 · ln 4 + 1)² = 0.2041241 · 1.1386294² = 0.2646423.
        using var raw = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
        var json = raw.RootElement;
        var yarn = json.GetProperty("rope_scaling");
        int headDim = json.GetProperty("qk_nope_head_dim").GetInt32() + json.GetProperty("qk_rope_head_dim").GetInt32();
        double m = 0.1 * yarn.GetProperty("mscale_all_dim").GetDouble() * Math.Log(yarn.GetProperty("factor").GetDouble()) + 1;
        double derived = Math.Pow(headDim, -0.5) * m * m;
        Assert.Equal(derived, c.SoftmaxScale, 12);
        using var caseJson = DeepSeekFixtures.CaseJson("dsv3_noqlora_yarn4_long");             // the scale the reference code used
        Assert.Equal(caseJson.RootElement.GetProperty("derived").GetProperty("softmax_scale").GetDouble(), c.SoftmaxScale, 12);
    }

    [Fact]
    public void SoftmaxScale_NoRopeScaling_IsInverseSqrtOfQkHeadDim()
    {
        var c = new DeepSeekV3Config { QkNopeHeadDim = 16, QkRopeHeadDim = 8 };
        Assert.Equal(1 / Math.Sqrt(16 + 8), c.SoftmaxScale, 15);
    }

    [Fact]
    public void Load_QLoraRankZero_MeansNoQueryCompression()
    {
        var dir = Directory.CreateTempSubdirectory("sharpseek-ds-");
        try
        {
            string path = Path.Combine(dir.FullName, "config.json");
            File.WriteAllText(path, new DeepSeekV3Config { QLoraRank = 0 }.ToJson());
            Assert.Equal(0, DeepSeekV3Config.Load(path).QRank);
            using var model = new DeepSeekV3ForCausalLM(DeepSeekV3Config.Load(path));
            Assert.Contains("model.layers.0.self_attn.q_proj.weight", model.state_dict().Keys);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Load_NotJson_ThrowsConfigException()
    {
        var dir = Directory.CreateTempSubdirectory("sharpseek-ds-");
        try
        {
            string path = Path.Combine(dir.FullName, "config.json");
            File.WriteAllText(path, "{ not json");
            Assert.Throws<ConfigException>(() => DeepSeekV3Config.Load(path));
        }
        finally { dir.Delete(true); }
    }
}

public sealed class DeepSeekPresetTests
{
    private readonly Xunit.Abstractions.ITestOutputHelper _out;
    public DeepSeekPresetTests(Xunit.Abstractions.ITestOutputHelper output) { _out = output; }

    private static string Preset(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "configs", $"deepseek-{name}.json"))) return Path.Combine(dir.FullName, "configs", $"deepseek-{name}.json");
        throw new FileNotFoundException($"configs/deepseek-{name}.json not found above {AppContext.BaseDirectory}");
    }

    [Theory]
    [InlineData("tiny", 8)]
    [InlineData("small", 16)]
    public void Preset_Loads_ValidTop2WithOneSharedExpert(string name, int experts)
    {
        var c = DeepSeekV3Config.Load(Preset(name));
        Assert.Equal(experts, c.NRoutedExperts);
        Assert.Equal(2, c.NumExpertsPerTok);
        Assert.Equal(1, c.NSharedExperts);
    }

    [Fact]
    public void Preset_Small_Between10And20MillionParameters()
    {
        var c = DeepSeekV3Config.Load(Preset("small"));
        using var model = new DeepSeekV3ForCausalLM(c);
        long total = model.parameters().Sum(p => p.NumberOfElements);
        long expert = 3L * c.HiddenSize * c.MoeIntermediateSize;
        long inactive = model.MoeLayers.Count() * (long)(c.NRoutedExperts - c.NumExpertsPerTok) * expert;
        _out.WriteLine($"deepseek-small: {total:N0} parameters, {total - inactive:N0} active per token (MTP module included)");
        Assert.Equal(ParameterCount(c), total);
        Assert.InRange(total, 10_000_000, 20_000_000);
    }

    [Theory]
    [InlineData(32, 0)]
    [InlineData(null, 2)]
    public void Model_TinyConfigs_ParameterCountFollowsFormula(int? qLoraRank, int mtpDepth)
    {
        var c = new DeepSeekV3Config { QLoraRank = qLoraRank, NumNextnPredictLayers = mtpDepth, NSharedExperts = 2 };
        using var model = new DeepSeekV3ForCausalLM(c);
        Assert.Equal(ParameterCount(c), model.parameters().Sum(p => p.NumberOfElements));
    }

    /// <summary>
    /// Trainable parameters from the config (DeepSeek-V3 §2, no biases; the gate's correction bias is a buffer): embedding and
    /// untied head, final norm, and per decoder layer (main stack, then one per MTP module) two norms, MLA and a dense MLP or
    /// the MoE; each MTP module adds enorm, hnorm, eh_proj (D × 2D) and its shared head's norm.
    /// </summary>
    private static long ParameterCount(DeepSeekV3Config c)
    {
        long d = c.HiddenSize, h = c.NumAttentionHeads, qk = c.QkNopeHeadDim + c.QkRopeHeadDim, kl = c.KvLoraRank;
        long query = c.QRank > 0 ? d * c.QRank + c.QRank + c.QRank * h * qk : d * h * qk;        // q_a, q_a_layernorm, q_b | q_proj
        long attention = query + d * (kl + c.QkRopeHeadDim) + kl + kl * h * (c.QkNopeHeadDim + c.VHeadDim) + h * c.VHeadDim * d;
        long Mlp(long width) => 3 * d * width;                                                   // gate, up, down
        long moe = c.NRoutedExperts * d + c.NRoutedExperts * Mlp(c.MoeIntermediateSize) + Mlp((long)c.MoeIntermediateSize * c.NSharedExperts);
        long Layer(int i) => 2 * d + attention + (c.IsMoeLayer(i) ? moe : Mlp(c.IntermediateSize));
        long total = 2L * c.VocabSize * d + d;
        for (int i = 0; i < c.NumHiddenLayers; i++) total += Layer(i);
        for (int k = 0; k < c.NumNextnPredictLayers; k++) total += Layer(c.NumHiddenLayers + k) + 2 * d + 2 * d * d + d;
        return total;
    }
}

using System.Text.Json;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.Common;

public class LoraTests
{
    private static Gpt2LMHeadModel TinyGpt2(int seed = 1)
    {
        manual_seed(seed);
        var model = new Gpt2LMHeadModel(new Gpt2Config { VocabSize = 50, NPositions = 16, NEmbd = 32, NLayer = 2, NHead = 4 });
        model.eval();
        return model;
    }

    private static DeepSeekV3ForCausalLM TinyDeepSeek(int seed = 1)
    {
        manual_seed(seed);
        var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { QLoraRank = null, NumHiddenLayers = 2 });   // layer 0 dense, layer 1 MoE
        model.eval();
        return model;
    }

    /// <summary>B ≠ 0 so the adapters change the output (fresh adapters have B = 0).</summary>
    private static void RandomizeB(LoraAdapters lora, int seed)
    {
        manual_seed(seed);
        using var _ = no_grad();
        foreach (var a in lora.Adapters.Values) a.B.normal_(0, 0.2);
    }

    private static Tensor Ids(long vocab, int seed = 7)
    {
        manual_seed(seed);
        return randint(0, vocab, [2, 9]);
    }

    private static Tensor LogitsNoGrad(CausalLM model, Tensor ids)
    {
        using var _ = no_grad();
        return model.Logits(ids);
    }

    private static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    /// <summary>Same shape, dtype and bytes.</summary>
    private static bool BitIdentical(Tensor a, Tensor b)
    {
        using var ca = a.detach().contiguous();
        using var cb = b.detach().contiguous();
        return a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && ca.bytes.SequenceEqual(cb.bytes);
    }

    // ---- maths -----------------------------------------------------------------------------------------------------

    [Fact]
    public void Forward_HandValues_AddsScaledBAxAndEffectiveWeightFoldsIt()
    {
        // W = 0, A = [[1, 2]], B = [[1], [3]], s = 2, x = [1, 1]: A·x = 3, B·3 = [3, 9], ·2 = [6, 18]; W + s·B·A = [[2, 4], [6, 12]].
        using var p = new Projection(2, 2, hasBias: false);
        using (no_grad()) p.Weight.zero_();
        using var adapter = new LoraAdapter(p, rank: 1, scaling: 2, dropout: 0);
        using (no_grad())
        {
            adapter.A.copy_(tensor(new float[] { 1, 2 }).view(1, 2));
            adapter.B.copy_(tensor(new float[] { 1, 3 }).view(2, 1));
        }
        p.Adapter = adapter;
        using var y = p.call(ones(1, 2));
        Assert.Equal(new float[] { 6, 18 }, y.data<float>().ToArray());
        using var w = p.EffectiveWeight();
        Assert.Equal(new float[] { 2, 4, 6, 12 }, w.data<float>().ToArray());
    }

    [Theory]
    [InlineData(16, 8, false, 2.0)]
    [InlineData(16, 4, true, 8.0)]
    public void Scale_AlphaAndRank_IsAlphaOverRankOrOverSqrtRank(double alpha, int r, bool rslora, double expected) =>
        Assert.Equal(expected, LoraConfig.Scale(alpha, r, rslora));

    [Theory]
    [InlineData("transformer.h.0.attn.c_attn", "c_attn", true)]
    [InlineData("transformer.h.0.attn.c_attn", "attn.c_attn", true)]
    [InlineData("transformer.h.0.mlp.c_proj", "attn.c_proj", false)]
    [InlineData("transformer.h.0.attn.xc_attn", "c_attn", false)]
    [InlineData("model.layers.1.mlp.experts.0.gate_proj", "gate_proj", true)]
    [InlineData("model.layers.1.mlp.experts.0.gate_proj", "experts", true)]
    [InlineData("model.layers.1.mlp.shared_experts.gate_proj", "experts", false)]
    [InlineData("model.layers.0.mlp.gate_proj", "experts", false)]
    public void Matches_ModulePathAndTarget_PeftSuffixOrContainingModule(string path, string target, bool expected) =>
        Assert.Equal(expected, LoraConfig.Matches(path, target));

    [Fact]
    public void Forward_Dropout_AppliedInTrainingModeOnly()
    {
        manual_seed(3);
        using var p = new Projection(64, 8, hasBias: false);
        using var adapter = new LoraAdapter(p, rank: 4, scaling: 1, dropout: 0.5);
        using (no_grad()) adapter.B.normal_(0, 1);
        p.Adapter = adapter;
        using var x = randn(5, 64);
        p.eval();
        using var expected = x.matmul(adapter.A.t()).matmul(adapter.B.t());            // (5, 8) without dropout
        using var evalTerm = adapter.Forward(x);
        Assert.True(MaxDiff(evalTerm, expected) < 1e-5);
        p.train();
        using var trainTerm = adapter.Forward(x);
        Assert.True(MaxDiff(trainTerm, expected) > 1e-2, "dropout did not change the adapter's term in training mode");
    }

    [Theory]
    [InlineData(0, 8.0, 0.0, "r must be")]
    [InlineData(4, 0.0, 0.0, "lora_alpha")]
    [InlineData(4, 8.0, 1.0, "lora_dropout")]
    public void Validate_BadSetting_ThrowsConfigExceptionNamingIt(int r, double alpha, double dropout, string expected)
    {
        var config = new LoraConfig { R = r, LoraAlpha = alpha, LoraDropout = dropout, TargetModules = ["c_attn"] };
        Assert.Contains(expected, Assert.Throws<ConfigException>(config.Validate).Message);
    }

    // ---- attach ----------------------------------------------------------------------------------------------------

    [Fact]
    public void Attach_Gpt2CAttn_PeftShapesZeroBAndOnlyAdaptersTrainable()
    {
        using var model = TinyGpt2();
        long baseCount = model.parameters().Sum(p => p.NumberOfElements);
        using var lora = LoraAdapters.Attach(model, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = ["c_attn"] });
        Assert.Equal(["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"], lora.Adapters.Keys);
        foreach (var a in lora.Adapters.Values)
        {
            Assert.Equal(new long[] { 4, 32 }, a.A.shape);                                  // (r, in)
            Assert.Equal(new long[] { 96, 4 }, a.B.shape);                                  // (out, r), out = 3C
            Assert.Equal(0f, a.B.abs().max().item<float>());
            float bound = 1 / MathF.Sqrt(32);                                               // Kaiming-uniform, a = √5: U(−1/√in, 1/√in)
            Assert.InRange(a.A.abs().max().item<float>(), 0.9f * bound, bound);
            Assert.Equal(2.0, a.Scaling);
        }
        Assert.Equal(2 * (4 * 32 + 96 * 4), lora.TrainableParameterCount);
        Assert.Equal(baseCount + 1024, lora.AllParameterCount);
        Assert.All(model.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(lora.Parameters(), p => Assert.True(p.requires_grad));
        Assert.StartsWith("trainable params: 1,024 || all params: ", lora.Summary());
    }

    [Fact]
    public void Attach_FreshAdapters_LogitsEqualTheBaseModel()
    {
        using var model = TinyGpt2();
        using var ids = Ids(50);
        using var before = LogitsNoGrad(model, ids);
        using var lora = LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["c_attn", "c_proj", "c_fc"] });
        using var after = LogitsNoGrad(model, ids);
        Assert.Equal(0f, MaxDiff(before, after));
    }

    [Fact]
    public void Attach_TargetMatchingNothing_ThrowsConfigExceptionNamingTheProjections()
    {
        using var model = TinyGpt2();
        var e = Assert.Throws<ConfigException>(() => LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["c_attn", "q_proj"] }));
        Assert.Contains("'q_proj'", e.Message);
        Assert.Contains("c_attn, c_fc, c_proj", e.Message);
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));             // nothing frozen, nothing attached
        Assert.All(LoraAdapters.ProjectionsOf(model), p => Assert.Null(p.Target.Adapter));
    }

    [Fact]
    public void Attach_TiedGpt2Head_IsNoTarget()
    {
        using var model = TinyGpt2();
        Assert.DoesNotContain(LoraAdapters.ProjectionsOf(model), p => p.Path.EndsWith("lm_head"));
        Assert.Throws<ConfigException>(() => LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["lm_head"] }));
        using var lora = LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["c_attn"] });
        Assert.Null(model.OutputHead.Adapter);
        Assert.True(model.OutputHead.IsPlainMatrix);
    }

    [Fact]
    public void Attach_DeepSeekExperts_AdaptsRoutedExpertsOnly()
    {
        using var model = TinyDeepSeek();
        using var lora = LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["q_proj", "kv_b_proj", "experts"] });
        var paths = lora.Adapters.Keys.ToList();
        Assert.Equal(2 + 2 + 8 * 3, paths.Count);                                          // 2 layers × (q_proj, kv_b_proj) + 8 experts × 3
        Assert.Contains("model.layers.1.mlp.experts.7.down_proj", paths);
        Assert.Contains("model.layers.0.self_attn.kv_b_proj", paths);
        Assert.DoesNotContain(paths, p => p.Contains("shared_experts") || p.StartsWith("model.layers.0.mlp"));
    }

    [Fact]
    public void Attach_ProjectionAlreadyAdapted_ThrowsConfigException()
    {
        using var model = TinyGpt2();
        using var lora = LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["c_attn"] });
        Assert.Throws<ConfigException>(() => LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["attn.c_attn"] }));
    }

    [Fact]
    public void Unload_AttachedAdapters_RestoresBaseLogitsAndRequiresGrad()
    {
        using var model = TinyGpt2();
        using var ids = Ids(50);
        using var before = LogitsNoGrad(model, ids);
        var lora = LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["c_attn", "c_fc"] });
        RandomizeB(lora, 2);
        lora.Unload();
        using var after = LogitsNoGrad(model, ids);
        Assert.Equal(0f, MaxDiff(before, after));
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
        lora.Dispose();
    }

    // ---- gradients -------------------------------------------------------------------------------------------------

    [Fact]
    public void Backward_Gpt2LanguageModelLoss_OnlyAdapterParametersGetGradients()
    {
        using var model = TinyGpt2();
        using var lora = LoraAdapters.Attach(model, new LoraConfig { R = 2, TargetModules = ["c_attn", "mlp.c_proj"] });
        RandomizeB(lora, 3);
        model.train();
        using var ids = Ids(50);
        using var targets = Ids(50, seed: 8);
        using var loss = LanguageModelObjective.Loss(model, ids, targets);
        loss.backward();
        Assert.All(model.named_parameters(), p => Assert.True(p.parameter.grad is null, $"{p.name} received a gradient"));
        Assert.All(lora.NamedParameters(), p => Assert.True(p.Param.grad is { } g && g.abs().max().item<float>() > 0, $"{p.Name} received no gradient"));
    }

    [Fact]
    public void Backward_DeepSeekLanguageModelLoss_OnlyAdapterParametersGetGradients()
    {
        using var model = TinyDeepSeek();
        using var lora = LoraAdapters.Attach(model, new LoraConfig { R = 2, TargetModules = ["q_proj", "kv_b_proj", "experts"] });
        RandomizeB(lora, 4);
        model.train();
        using var ids = Ids(512);
        using var targets = Ids(512, seed: 8);
        using var loss = LanguageModelObjective.Loss(model, ids, targets);
        loss.backward();
        Assert.All(model.named_parameters(), p => Assert.True(p.parameter.grad is null, $"{p.name} received a gradient"));
        Assert.All(lora.NamedParameters().Where(p => !p.Name.Contains(".experts.")),
            p => Assert.True(p.Param.grad is { } g && g.abs().max().item<float>() > 0, $"{p.Name} received no gradient"));
        Assert.Contains(lora.NamedParameters(), p => p.Name.Contains(".experts.") && p.Param.grad is not null);   // routed experts that got tokens
    }

    // ---- merge -----------------------------------------------------------------------------------------------------

    [Fact]
    public void Merge_Gpt2_MergedLogitsEqualAdapterLogits()
    {
        using var model = TinyGpt2();
        using var ids = Ids(50);
        using var baseLogits = LogitsNoGrad(model, ids);
        using var lora = LoraAdapters.Attach(model, new LoraConfig { R = 4, LoraAlpha = 16, TargetModules = ["c_attn", "c_proj", "c_fc"] });
        RandomizeB(lora, 5);
        using var adapted = LogitsNoGrad(model, ids);
        lora.Merge();
        Assert.All(LoraAdapters.ProjectionsOf(model), p => Assert.Null(p.Target.Adapter));
        using var merged = LogitsNoGrad(model, ids);
        Assert.True(MaxDiff(adapted, baseLogits) > 1e-2, "the adapters do not change the logits");
        Assert.True(MaxDiff(adapted, merged) < 1e-4, $"merged logits differ by {MaxDiff(adapted, merged)}");   // float32 rounding of W + s·B·A
    }

    [Fact]
    public void Unmerge_Gpt2_BaseWeightsBitIdenticalAndAdaptersBack()
    {
        using var model = TinyGpt2();
        using var ids = Ids(50);
        using var lora = LoraAdapters.Attach(model, new LoraConfig { R = 4, LoraAlpha = 16, TargetModules = ["c_attn", "c_proj", "c_fc"] });
        RandomizeB(lora, 6);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var adapted = LogitsNoGrad(model, ids);
        lora.Merge();
        Assert.False(BitIdentical(before["transformer.h.0.attn.c_attn.weight"], model.state_dict()["transformer.h.0.attn.c_attn.weight"]));
        lora.Unmerge();
        Assert.All(model.state_dict(), kv => Assert.True(BitIdentical(before[kv.Key], kv.Value), $"{kv.Key} changed after merge + unmerge"));
        using var again = LogitsNoGrad(model, ids);
        Assert.Equal(0f, MaxDiff(adapted, again));
        foreach (var t in before.Values) t.Dispose();
    }

    [Fact]
    public void MergeUnmerge_DeepSeek_MergedLogitsEqualAndBaseWeightsBitIdentical()
    {
        using var model = TinyDeepSeek();
        using var ids = Ids(512);
        using var baseLogits = LogitsNoGrad(model, ids);
        using var lora = LoraAdapters.Attach(model, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = ["q_proj", "kv_b_proj", "o_proj", "experts"] });
        RandomizeB(lora, 7);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var adapted = LogitsNoGrad(model, ids);
        lora.Merge();
        using var merged = LogitsNoGrad(model, ids);
        lora.Unmerge();
        Assert.True(MaxDiff(adapted, baseLogits) > 1e-2, "the adapters do not change the logits");
        Assert.True(MaxDiff(adapted, merged) < 1e-4, $"merged logits differ by {MaxDiff(adapted, merged)}");
        Assert.All(model.state_dict(), kv => Assert.True(BitIdentical(before[kv.Key], kv.Value), $"{kv.Key} changed after merge + unmerge"));
        foreach (var t in before.Values) t.Dispose();
    }

    [Fact]
    public void Forward_DeepSeekKvBAdapter_AbsorbedMlaEqualsNaive()
    {
        // The absorbed MLA path reads kv_b_proj's matrix (EffectiveWeight), the naive path calls the projection.
        using var model = TinyDeepSeek();
        using var ids = Ids(512);
        using var lora = LoraAdapters.Attach(model, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = ["kv_b_proj"] });
        RandomizeB(lora, 8);
        using var naive = LogitsNoGrad(model, ids);
        model.AttentionImpl = AttentionImpl.Absorbed;
        using var absorbed = LogitsNoGrad(model, ids);
        lora.Unload();
        using var baseAbsorbed = LogitsNoGrad(model, ids);
        Assert.True(MaxDiff(absorbed, baseAbsorbed) > 1e-2, "the kv_b_proj adapter does not change the absorbed path");
        Assert.True(MaxDiff(naive, absorbed) < 1e-4, $"absorbed and naive differ by {MaxDiff(naive, absorbed)}");
    }

    [Fact]
    public void MergeAndUnload_Gpt2_PlainModelWithMergedWeights()
    {
        using var model = TinyGpt2();
        using var ids = Ids(50);
        using var lora = LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["c_fc"] });
        RandomizeB(lora, 9);
        using var adapted = LogitsNoGrad(model, ids);
        lora.MergeAndUnload();
        using var merged = LogitsNoGrad(model, ids);
        Assert.True(MaxDiff(adapted, merged) < 1e-4);
        Assert.All(LoraAdapters.ProjectionsOf(model), p => Assert.Null(p.Target.Adapter));
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Dispose_AfterMergeAndUnload_BaseModelStillRunsAndAdapterOwnsOnlyAB()
    {
        using var model = TinyGpt2();
        using var ids = Ids(50);
        var lora = LoraAdapters.Attach(model, new LoraConfig { TargetModules = ["c_fc"] });
        var adapter = lora.Adapters.Values.First();
        Assert.Equal(["lora_A", "lora_B"], adapter.named_parameters().Select(p => p.name).OrderBy(n => n, StringComparer.Ordinal).ToArray());
        RandomizeB(lora, 9);
        using var adapted = LogitsNoGrad(model, ids);
        lora.MergeAndUnload();
        lora.Dispose();                                                    // frees the adapters, not the projections they adapted
        using var merged = LogitsNoGrad(model, ids);
        Assert.True(MaxDiff(adapted, merged) < 1e-4);
    }

    // ---- PEFT files ------------------------------------------------------------------------------------------------

    [Fact]
    public void Save_Gpt2_PeftNamesAndConfigKeys()
    {
        using var dir = new TempDir();
        using var model = TinyGpt2();
        using var lora = LoraAdapters.Attach(model, new LoraConfig { R = 4, LoraAlpha = 16, LoraDropout = 0.05, TargetModules = ["attn.c_attn"] });
        lora.Save(dir.Path);
        using (var f = SafeTensorsFile.Open(dir[LoraAdapters.WeightsFile]))
        {
            Assert.Equal(
                ["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight",
                 "base_model.model.transformer.h.1.attn.c_attn.lora_A.weight", "base_model.model.transformer.h.1.attn.c_attn.lora_B.weight"],
                f.Tensors.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(new long[] { 4, 32 }, f.Tensors["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"].Shape);
            Assert.Equal(new long[] { 96, 4 }, f.Tensors["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"].Shape);
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(dir[LoraAdapters.ConfigFile]));
        var root = doc.RootElement;
        Assert.Equal("LORA", root.GetProperty("peft_type").GetString());
        Assert.Equal("CAUSAL_LM", root.GetProperty("task_type").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("base_model_name_or_path").ValueKind);
        Assert.Equal(4, root.GetProperty("r").GetInt32());
        Assert.Equal(16, root.GetProperty("lora_alpha").GetDouble());
        Assert.Equal(0.05, root.GetProperty("lora_dropout").GetDouble());
        Assert.Equal("none", root.GetProperty("bias").GetString());
        Assert.Equal(["c_attn"], root.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
        Assert.True(root.GetProperty("fan_in_fan_out").GetBoolean());                      // GPT-2's Conv1D, as PEFT writes it
    }

    [Fact]
    public void Load_SavedAdaptersOntoAFreshBase_SameLogits()
    {
        using var dir = new TempDir();
        using var model = TinyDeepSeek();
        using var ids = Ids(512);
        using var lora = LoraAdapters.Attach(model, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = ["q_proj", "kv_b_proj", "experts"] });
        RandomizeB(lora, 10);
        using var adapted = LogitsNoGrad(model, ids);
        lora.Save(dir.Path);

        using var fresh = TinyDeepSeek();                                                  // the same base weights
        using var loaded = LoraAdapters.Load(fresh, dir.Path);
        Assert.Equal(lora.Adapters.Keys, loaded.Adapters.Keys);
        Assert.Equal(lora.Config.Scaling, loaded.Config.Scaling);
        using var again = LogitsNoGrad(fresh, ids);
        Assert.Equal(0f, MaxDiff(adapted, again));
        Assert.All(fresh.parameters(), p => Assert.False(p.requires_grad));
    }

    private const string HandWrittenConfig = """
        {
          "alpha_pattern": {},
          "auto_mapping": null,
          "base_model_name_or_path": "gpt2",
          "bias": "none",
          "fan_in_fan_out": true,
          "inference_mode": true,
          "init_lora_weights": true,
          "layers_pattern": null,
          "layers_to_transform": null,
          "lora_alpha": 16,
          "lora_dropout": 0.1,
          "modules_to_save": null,
          "peft_type": "LORA",
          "r": 2,
          "rank_pattern": {},
          "revision": null,
          "target_modules": ["c_attn"],
          "task_type": "CAUSAL_LM"
        }
        """;

    private static void WritePeft(string dir, params (string Key, Tensor Value)[] tensors)
    {
        File.WriteAllText(Path.Combine(dir, LoraAdapters.ConfigFile), HandWrittenConfig);
        SafeTensors.Save(Path.Combine(dir, LoraAdapters.WeightsFile), tensors.Select(t => new KeyValuePair<string, Tensor>(t.Key, t.Value)));
    }

    [Fact]
    public void Load_HandWrittenPeftFile_AdaptsTheNamedModuleWithItsValues()
    {
        using var dir = new TempDir();
        using var a = arange(2 * 32, dtype: ScalarType.Float32).view(2, 32) / 64;      // lora_A (r, in)
        using var b = full(96, 2, 0.5f);                                                  // lora_B (out, r)
        WritePeft(dir.Path, ("base_model.model.transformer.h.1.attn.c_attn.lora_A.weight", a),
                            ("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight", b));
        using var model = TinyGpt2();
        using var lora = LoraAdapters.Load(model, dir.Path);
        Assert.Equal(["transformer.h.1.attn.c_attn"], lora.Adapters.Keys);
        var adapter = lora.Adapters["transformer.h.1.attn.c_attn"];
        Assert.True(BitIdentical(adapter.A, a) && BitIdentical(adapter.B, b));
        Assert.Equal(8.0, adapter.Scaling);                                                // 16 / 2
        Assert.Equal("gpt2", lora.Config.BaseModelNameOrPath);
        Assert.Equal(0.1, adapter.Dropout);
    }

    [Fact]
    public void Load_PeftRegexTargetModules_ReadAsOneName()
    {
        using var dir = new TempDir();
        using var a = zeros(2, 32);
        using var b = zeros(96, 2);
        WritePeft(dir.Path, ("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", a),
                            ("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight", b));
        File.WriteAllText(dir[LoraAdapters.ConfigFile], HandWrittenConfig.Replace("[\"c_attn\"]", "\".*\\\\.c_attn\""));
        using var model = TinyGpt2();
        using var lora = LoraAdapters.Load(model, dir.Path);
        Assert.Equal([".*\\.c_attn"], lora.Config.TargetModules);
        Assert.Equal(["transformer.h.0.attn.c_attn"], lora.Adapters.Keys);
    }

    [Fact]
    public void Load_ShapeMismatch_ThrowsCheckpointExceptionNamingTheTensor()
    {
        using var dir = new TempDir();
        using var a = zeros(2, 31);                                                        // in is 32
        using var b = zeros(96, 2);
        WritePeft(dir.Path, ("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", a),
                            ("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight", b));
        using var model = TinyGpt2();
        var e = Assert.Throws<CheckpointException>(() => LoraAdapters.Load(model, dir.Path));
        Assert.Contains("'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight'", e.Message);
        Assert.Contains("[2, 32]", e.Message);
        Assert.All(LoraAdapters.ProjectionsOf(model), p => Assert.Null(p.Target.Adapter));
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Load_ModuleNotInTheBase_ThrowsCheckpointExceptionNamingTheTensor()
    {
        using var dir = new TempDir();
        using var a = zeros(2, 32);
        using var b = zeros(96, 2);
        WritePeft(dir.Path, ("base_model.model.transformer.h.5.attn.c_attn.lora_A.weight", a),
                            ("base_model.model.transformer.h.5.attn.c_attn.lora_B.weight", b));
        using var model = TinyGpt2();
        var e = Assert.Throws<CheckpointException>(() => LoraAdapters.Load(model, dir.Path));
        Assert.Contains("'base_model.model.transformer.h.5.attn.c_attn.lora_", e.Message);
        Assert.Contains("not a projection of the base model", e.Message);
    }

    [Fact]
    public void Load_LoraAWithoutLoraB_ThrowsCheckpointExceptionNamingTheTensor()
    {
        using var dir = new TempDir();
        using var a = zeros(2, 32);
        WritePeft(dir.Path, ("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", a));
        using var model = TinyGpt2();
        var e = Assert.Throws<CheckpointException>(() => LoraAdapters.Load(model, dir.Path));
        Assert.Contains("'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight' has no matching lora_B", e.Message);
    }

    [Fact]
    public void Load_TensorThatIsNoLoraWeight_ThrowsCheckpointExceptionNamingIt()
    {
        using var dir = new TempDir();
        using var w = zeros(96);
        WritePeft(dir.Path, ("base_model.model.transformer.h.0.attn.c_attn.bias", w));
        using var model = TinyGpt2();
        var e = Assert.Throws<CheckpointException>(() => LoraAdapters.Load(model, dir.Path));
        Assert.Contains("'base_model.model.transformer.h.0.attn.c_attn.bias' is not a LoRA weight", e.Message);
    }

    [Fact]
    public void Load_MissingConfig_ThrowsCheckpointExceptionNamingTheFile()
    {
        using var dir = new TempDir();
        using var model = TinyGpt2();
        var e = Assert.Throws<CheckpointException>(() => LoraAdapters.Load(model, dir.Path));
        Assert.Contains(LoraAdapters.ConfigFile, e.Message);
    }
}

using System.Globalization;
using System.Text.Json.Nodes;
using SharpSeek.Data;
using SharpSeek.Data.Chat;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>
/// Model folders made once with <c>sharpseek init</c>, all with the byte tokenizer and vocab_size 320 (what a student built
/// from the byte data rounds 257 up to): a GPT-2 teacher (configs/gpt2-tiny.json's shape, n_positions 64), a DeepSeek-style
/// teacher (MLA, MoE, MTP), a GPT-2 whose tokenizer has two ids swapped (same size, another tokenizer), and a data folder of
/// addition lines prepared with the byte tokenizer.
/// </summary>
public sealed class DistillFolders : IDisposable
{
    private readonly TempDir _tmp = new();
    public string Gpt2 => _tmp["gpt2"];
    public string DeepSeek => _tmp["deepseek"];
    public string Foreign => _tmp["foreign"];
    public string Data => _tmp["data"];

    public DistillFolders()
    {
        Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "vocab_size=320", "--set", "n_positions=64", "--tokenizer", "byte", "--seed", "1", "--out", Gpt2);
        Run("init", "--arch", "deepseek", "--preset", "tiny", "--set", "vocab_size=320", "--set", "num_hidden_layers=2", "--set", "hidden_size=64",
            "--set", "intermediate_size=96", "--set", "moe_intermediate_size=32", "--set", "max_position_embeddings=64", "--tokenizer", "byte", "--seed", "2", "--out", DeepSeek);
        Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "vocab_size=320", "--set", "n_positions=64", "--tokenizer", "byte", "--seed", "3", "--out", Foreign);
        string tokenizerJson = Path.Combine(Foreign, "tokenizer.json");
        var tok = JsonNode.Parse(File.ReadAllText(tokenizerJson))!;
        var vocab = tok["model"]!["vocab"]!.AsObject();
        var (a, b) = (vocab["a"]!.GetValue<int>(), vocab["b"]!.GetValue<int>());
        vocab["a"] = b; vocab["b"] = a;                                               // same size, different ids
        File.WriteAllText(tokenizerJson, tok.ToJsonString());
        var rng = new Random(5);
        File.WriteAllLines(_tmp["text.txt"], Enumerable.Range(0, 300).Select(_ =>
        {
            int x = rng.Next(10, 100), y = rng.Next(10, 100);
            return string.Create(CultureInfo.InvariantCulture, $"{x}+{y}={x + y}");
        }));
        Run("data", "prepare", "--input", _tmp["text.txt"], "--tokenizer", Gpt2, "--out", Data);
    }

    private static void Run(params string[] args)
    {
        var r = CliHarness.Run(args);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', args)}: {r.Stderr}");
    }

    public TempDir Scratch() => new();

    public void Dispose() => _tmp.Dispose();
}

/// <summary><see cref="DistillationRun"/>: teachers of another family and size, several teachers, the top-k cache and its identity checks.</summary>
public class DistillationRunTests : IClassFixture<DistillFolders>
{
    private readonly DistillFolders _f;

    public DistillationRunTests(DistillFolders f) { _f = f; }

    private TrainConfig Config(string outDir, DistillConfig distill) => TrainingTestData.Config(outDir) with
    {
        Arch = "gpt2", NLayer = 1, NHead = 2, NEmbd = 16, Dropout = 0, DataDir = _f.Data, BlockSize = 16, BatchSize = 4,
        MaxSteps = 30, EvalInterval = 15, Lr = 2e-2, MinLr = 2e-3, Distill = distill,
    };

    private DistillConfig TwoTeachers(string? cacheDir = null, int topK = 320, double temperature = 2.0) => new()
    {
        Teachers = [new TeacherConfig { Path = _f.Gpt2, Weight = 1 }, new TeacherConfig { Path = _f.DeepSeek, Weight = 3 }],
        Temperature = temperature, Alpha = 0, Cache = cacheDir is null ? null : new DistillCacheConfig { Dir = cacheDir, TopK = topK },
    };

    [Fact]
    public void Open_CacheWithKEqualToVocabulary_GivesTheLiveTeachersKl()
    {
        using var tmp = _f.Scratch();
        var c = Config(tmp["out"], TwoTeachers(tmp["cache"]));
        using var run = DistillationRun.Open(c);
        var student = TrainingModels.For(c, run.DataVocabSize)(null);
        student.eval();
        using var dataset = TokenDataset.Open(_f.Data);
        var live = new DistillationObjective(new AlignedWindowData(dataset, 4, 16, 9),
            new LiveTeachers([ModelLoader.Load(_f.Gpt2), ModelLoader.Load(_f.DeepSeek)], [0.25, 0.75], 2.0), 2.0, 0);
        run.Objective.Reseed(DataSplit.Train, 9);
        using var _ = no_grad();
        double cached = run.Objective.Step(student, DataSplit.Train, StepMode.Train).Metrics["kl"];
        double fromTeachers = live.Step(student, DataSplit.Train, StepMode.Train).Metrics["kl"];
        Assert.True(fromTeachers > 1e-3, $"kl {fromTeachers}");                        // untrained models: nearly uniform, but not equal
        Assert.Equal(fromTeachers, cached, 6);
        Assert.Empty(run.Objective.FrozenModels);                                       // the student reads the cache, no teacher runs
    }

    [Fact]
    public void Open_CacheOfOtherTemperature_ThrowsConfigExceptionAndKeepsTheFile()
    {
        using var tmp = _f.Scratch();
        using (DistillationRun.Open(Config(tmp["out"], TwoTeachers(tmp["cache"], topK: 4)))) { }
        string path = TeacherCache.PathIn(tmp["cache"]);
        var before = File.ReadAllBytes(path);
        var e = Assert.Throws<ConfigException>(() => DistillationRun.Open(Config(tmp["out"], TwoTeachers(tmp["cache"], topK: 4, temperature: 3.0))));
        Assert.Contains("temperature", e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        e = Assert.Throws<ConfigException>(() => DistillationRun.Open(Config(tmp["out"], TwoTeachers(tmp["cache"], topK: 8))));
        Assert.Contains("top_k", e.Message);
        var oneTeacher = TwoTeachers(tmp["cache"], topK: 4) with { Teachers = [new TeacherConfig { Path = _f.Gpt2 }] };
        e = Assert.Throws<ConfigException>(() => DistillationRun.Open(Config(tmp["out"], oneTeacher)));
        Assert.Contains("teachers", e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void Open_TeacherWithOtherTokenizerOfSameSize_ThrowsNamingBothFolders()
    {
        using var tmp = _f.Scratch();
        var d = TwoTeachers() with { Teachers = [new TeacherConfig { Path = _f.Foreign }] };
        var e = Assert.Throws<ConfigException>(() => DistillationRun.Open(Config(tmp["out"], d)));
        Assert.Contains(_f.Foreign, e.Message);
        Assert.Contains(_f.Data, e.Message);
        Assert.Contains("tokenizer", e.Message);
    }

    [Fact]
    public void Run_GptStudentFromGptAndDeepSeekTeachersThroughCache_KlFalls()
    {
        using var tmp = _f.Scratch();
        var c = Config(tmp["out"], TwoTeachers(tmp["cache"], topK: 8) with { Alpha = 0.5 });
        using var run = DistillationRun.Open(c);
        var result = new Trainer(c, run.Objective, TrainingModels.For(c, run.DataVocabSize)).Run();
        double kl1 = result.StepMetrics[1]["kl"], kl30 = result.StepMetrics[30]["kl"];
        Assert.True(kl30 < 0.8 * kl1, $"KL {kl1:F4} → {kl30:F4}");                    // this run: 3.69 → 2.72 (random teachers' top-8)
        Assert.Equal("gpt2", ModelLoader.ReadModelType(result.Checkpoint!));
    }

    [Fact]
    public void CacheFile_WriteThenRead_GivesSameIdsAndLogProbs()
    {
        using var tmp = _f.Scratch();
        var g = new Generator(3);
        var train = DistillationMath.TopK(DistillationMath.LogProbs(randn(10, 7, generator: g), 1.0), 3);
        var val = DistillationMath.TopK(DistillationMath.LogProbs(randn(4, 7, generator: g), 1.0), 3);
        var identity = TeacherCache.Identity([_f.Gpt2], [1.0], 2.0, 3, 7, "text", 16, "abc");
        string path = TeacherCache.PathIn(tmp.Path);
        TeacherCache.Write(path, identity, new TopKTargets(train.Ids, train.LogProbs), new TopKTargets(val.Ids, val.LogProbs));
        var (t, v) = TeacherCache.Read(path, TeacherCache.Identity([_f.Gpt2], [1.0], 2.0, 3, 7, "text", 16, "abc"));
        Assert.True(t.Ids.equal(train.Ids).all().item<bool>() && v.Ids.equal(val.Ids).all().item<bool>());
        Assert.True(t.LogProbs.equal(train.LogProbs).all().item<bool>() && v.LogProbs.equal(val.LogProbs).all().item<bool>());
        var e = Assert.Throws<ConfigException>(() => TeacherCache.Read(path, TeacherCache.Identity([_f.Gpt2], [1.0], 2.0, 3, 7, "text", 16, "abd")));
        Assert.Contains("data.sha256", e.Message);
        e = Assert.Throws<ConfigException>(() => TeacherCache.Read(path, TeacherCache.Identity([_f.DeepSeek], [1.0], 2.0, 3, 7, "text", 16, "abc")));
        Assert.Contains("teachers[0]", e.Message);
    }

    [Fact]
    public void AlignedWindowData_Val_DrawsTheSameWindowsAsTrainsBatchSource()
    {
        using var dataset = TokenDataset.Open(_f.Data);
        var aligned = new AlignedWindowData(dataset, 4, 16, 5);
        var plain = new TokenDatasetBatchSource(dataset, 5);
        aligned.Reseed(DataSplit.Val, 42);
        plain.Reseed(DataSplit.Val, 42);
        for (int i = 0; i < 2; i++)
        {
            var a = aligned.Next(DataSplit.Val);
            var (x, y) = plain.SampleBatch(DataSplit.Val, 4, 16);
            Assert.True(a.Input.InputIds.equal(x).all().item<bool>() && a.Targets.equal(y).all().item<bool>());
            Assert.Null(a.CacheRows);
        }
        var train = aligned.Next(DataSplit.Train);
        Assert.All(train.CacheRows!.Chunk(16), row => Assert.Equal(0, row[0] % 16));      // whole windows of the block grid
    }

    [Fact]
    public void ReadIdentity_ModelWeightsFile_ThrowsNotATeacherCache()
    {
        var e = Assert.Throws<ConfigException>(() => TeacherCache.ReadIdentity(Path.Combine(_f.Gpt2, "model.safetensors")));
        Assert.Contains("not a teacher cache", e.Message);
    }

    [Fact]
    public void SftDistillData_PackedRows_MapEachPositionToItsSamplesCacheRow()
    {
        // Samples of lengths 3, 2, 4 (cache rows 0–2, 3–4, 5–8), packed into rows of 6 in order: [s0 s1 pad] [s2 pad pad].
        SftSample S(int n, int first) => new(Enumerable.Range(first, n).ToArray(), Enumerable.Repeat(1L, n).ToArray());
        var samples = new[] { S(3, 10), S(2, 20), S(4, 30) };
        var data = new SftDistillData(samples, samples, 2, 6, packing: true, padId: 0);
        var batch = data.Next(DataSplit.Val);                                           // held-out rows, in order
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, -1, 5, 6, 7, 8, -1, -1 }, batch.CacheRows);
        Assert.Equal(new long[] { 10, 11, 12, 20, 21, 0, 30, 31, 32, 33, 0, 0 }, batch.Input.InputIds.data<long>().ToArray());
    }

    [Fact]
    public void Step_SftData_KlOnlyOnAssistantTargets()
    {
        // One sample whose first two targets are ignored (the prompt): the KL must equal the divergence over positions 2.. alone.
        var sample = new SftSample([1, 2, 3, 4, 5], [-100, -100, 4, 5, -100]);
        var data = new SftDistillData([sample], [sample], 1, 5, packing: false, padId: 0);
        var teacher = new TinyLM(8, 8);
        var student = new TinyLM(8, 8);
        student.eval();
        var objective = new DistillationObjective(data, new LiveTeachers([teacher], [1.0], 2.0), 2.0, 0);
        using var _ = no_grad();
        double kl = objective.Step(student, DataSplit.Val, StepMode.Eval).Metrics["kl"];
        var ids = tensor(new long[] { 1, 2, 3, 4, 5 }, [1, 5]);
        var s = student.Logits(ids).reshape(5, 8);
        var t = DistillationMath.LogProbs(teacher.Logits(ids).reshape(5, 8), 2.0);
        double expected = DistillationMath.Divergence(s.narrow(0, 2, 2), t.narrow(0, 2, 2), 2.0).item<float>();
        Assert.Equal(expected, kl, 5);
    }
}

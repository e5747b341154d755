using SharpSeek.Tests.TestSupport;
using SharpSeek.Tests.Training.Objectives;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Cli;

/// <summary><c>sharpseek distill</c> and <c>distill cache</c> end to end on tiny model folders, and their bad-input exits.</summary>
public class DistillCliTests : IClassFixture<DistillFolders>
{
    private readonly DistillFolders _f;

    public DistillCliTests(DistillFolders f) { _f = f; }

    private string[] Args(string verb, string outDir, params string[] more) =>
    [
        .. verb.Split(' '), "--data", _f.Data, "--out", outDir, "--plain",
        "--set", "arch=gpt2", "--set", "n_layer=1", "--set", "n_head=2", "--set", "n_embd=16", "--set", "block_size=16", "--set", "batch_size=4",
        "--set", "max_steps=6", "--set", "eval_interval=3", "--set", "eval_iters=2", "--set", "warmup_steps=1", "--set", "precision=fp32",
        .. more,
    ];

    [Fact]
    public void Distill_TwoTeachersOfTwoFamilies_TrainsAndCheckpointCarriesTokenizer()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run(Args("distill", tmp["out"], "--teacher", _f.Gpt2 + ":1", "--teacher", _f.DeepSeek + ":3"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("distill: 2 teacher(s)", r.Stdout);
        Assert.Contains("×0.75", r.Stdout);
        Assert.Contains(", kl ", r.Stdout);                                             // eval lines carry the KL metric
        string ckpt = Path.Combine(tmp["out"], CheckpointStore.DirName(6));
        Assert.True(File.Exists(Path.Combine(ckpt, "tokenizer.json")));
    }

    [Fact]
    public void DistillCache_ThenDistill_ReadsTheCacheWithoutTeachers()
    {
        using var tmp = new TempDir();
        string[] cache = ["--teacher", _f.Gpt2, "--set", $"distill.cache={{\"dir\": \"{tmp["cache"]}\", \"top_k\": 4}}"];
        var built = CliHarness.Run(Args("distill cache", tmp["out"], cache));
        Assert.True(built.ExitCode == 0, built.Stderr + built.Stdout);
        Assert.Contains("computing top-4 targets", built.Stdout);
        Assert.False(Directory.Exists(tmp["out"]));                                      // building the cache trains nothing
        var r = CliHarness.Run(Args("distill", tmp["out"], cache));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("identity matches", r.Stdout);
    }

    [Fact]
    public void Distill_CacheOfOtherTemperature_Exits2AndLeavesCacheAndOutDirAlone()
    {
        using var tmp = new TempDir();
        string[] cache = ["--teacher", _f.Gpt2, "--set", $"distill.cache={{\"dir\": \"{tmp["cache"]}\", \"top_k\": 4}}"];
        Assert.Equal(0, CliHarness.Run(Args("distill cache", tmp["out"], cache)).ExitCode);
        string path = TeacherCache.PathIn(tmp["cache"]);
        var before = File.ReadAllBytes(path);
        var r = CliHarness.Run(Args("distill", tmp["out"], [.. cache, "--set", "distill.temperature=5"]));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error: teacher cache", r.Stderr);
        Assert.Contains("temperature", r.Stderr);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Theory]
    [InlineData("no-teacher")]
    [InlineData("missing-folder")]
    [InlineData("bad-weight")]
    [InlineData("unknown-key")]
    [InlineData("bad-kl")]
    [InlineData("foreign-tokenizer")]
    [InlineData("cache-missing-for-cache-verb")]
    public void Distill_BadInput_Exits2WithOneErrorLine(string what)
    {
        using var tmp = new TempDir();
        string[] extra = what switch
        {
            "no-teacher" => [],
            "missing-folder" => ["--teacher", tmp["nope"]],
            "bad-weight" => ["--teacher", _f.Gpt2 + ":-2"],
            "unknown-key" => ["--teacher", _f.Gpt2, "--set", "distill.temprature=2"],
            "bad-kl" => ["--teacher", _f.Gpt2, "--set", "distill.kl=sideways"],
            "foreign-tokenizer" => ["--teacher", _f.Foreign],
            _ => ["--teacher", _f.Gpt2],
        };
        var r = CliHarness.Run(Args(what.StartsWith("cache") ? "distill cache" : "distill", tmp["out"], extra));
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.False(Directory.Exists(tmp["out"]));
        if (what == "foreign-tokenizer") { Assert.Contains(_f.Foreign, r.Stderr); Assert.Contains(_f.Data, r.Stderr); }
    }
}

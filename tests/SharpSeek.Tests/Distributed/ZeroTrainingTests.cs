using System.Globalization;
using System.Text.RegularExpressions;
using SharpSeek.Checkpoints;
using SharpSeek.Distributed;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;
using static SharpSeek.Tests.Distributed.DataParallelTrainingTests;

namespace SharpSeek.Tests.Distributed;

/// <summary><c>mpirun -np 2 sharpseek train --set zero_stage=1</c> (ZeRO-1) against one process and against 2 ranks without it (docs/distributed.md).</summary>
public partial class ZeroTrainingTests
{
    private const double Tolerance = 1e-5;

    private static readonly string[] Zero1 = ["--set", "zero_stage=1"];

    /// <summary>Max |Δ| over every tensor of the two checkpoints' model.safetensors.</summary>
    private static double MaxParameterDiff(string dirA, string dirB)
    {
        using var a = SafeTensorsFile.Open(Path.Combine(dirA, "model.safetensors"));
        using var b = SafeTensorsFile.Open(Path.Combine(dirB, "model.safetensors"));
        Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
        double max = 0;
        foreach (var name in a.Tensors.Keys)
        {
            using var x = a.Load(name);
            using var y = b.Load(name);
            max = Math.Max(max, (x - y).abs().max().item<float>());
        }
        return max;
    }

    private static void AssertSameLosses(Dictionary<int, double> expected, Dictionary<int, double> actual, string what)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (step, loss) in expected) Assert.True(Math.Abs(actual[step] - loss) <= Tolerance, $"{what} step {step}: {actual[step]} vs {loss}");
    }

    [GeneratedRegex(@"parameters: ([\d,]+) with weight decay, ([\d,]+) without")]
    private static partial Regex GroupSizes();

    [GeneratedRegex(@"optimizer state: [\d.]+ MiB \(([\d,]+) bytes\) on this rank \(([^)]*)\)")]
    private static partial Regex StateLine();

    private static long Number(string s) => long.Parse(s, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    public void Train_TwoRanksZero1_MatchesOneProcessAndTwoRanksWithout(int gradAccum)
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        string[] accum = ["--set", $"grad_accum={gradAccum}"];
        var one = RunOne(TinyArgs(data, tmp["one"], accum));
        Assert.True(one.ExitCode == 0, one.Stderr + one.Stdout);
        var plain = MpiRun.Run(2, TinyArgs(data, tmp["plain"], accum));
        Assert.True(plain.ExitCode == 0, plain.Stderr + plain.Stdout);
        var zero = MpiRun.Run(2, TinyArgs(data, tmp["zero"], [.. accum, .. Zero1]));
        Assert.True(zero.ExitCode == 0, zero.Stderr + zero.Stdout);

        var expected = Losses(tmp["one"]);
        Assert.Equal([1, 2, 3], expected.Keys.Order());
        Assert.True(expected[3] < expected[1], "the model learns");
        AssertSameLosses(expected, Losses(tmp["zero"]), "ZeRO-1 vs 1 process");
        AssertSameLosses(Losses(tmp["plain"]), Losses(tmp["zero"]), "ZeRO-1 vs 2 ranks without");

        string ckpt = CheckpointStore.DirName(3);
        double vsOne = MaxParameterDiff(Path.Combine(tmp["one"], ckpt), Path.Combine(tmp["zero"], ckpt));
        Assert.True(vsOne <= Tolerance, $"ZeRO-1 vs 1 process: max |Δ| {vsOne}");
        // the same averaged gradients stepped by the same per-element AdamW: the same bits as 2 ranks without ZeRO
        Assert.Equal(0, MaxParameterDiff(Path.Combine(tmp["plain"], ckpt), Path.Combine(tmp["zero"], ckpt)));
        Assert.True(File.Exists(Path.Combine(tmp["zero"], ckpt, ZeroCheckpoint.ShardFile(1, 2))));
        Assert.False(File.Exists(Path.Combine(tmp["zero"], ckpt, CheckpointStore.OptimizerFile)));
    }

    [MpiFact]
    public void Train_TwoRanksZero1_Rank0HoldsTheMomentsOfItsSliceOnly()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        var plain = MpiRun.Run(2, TinyArgs(data, tmp["plain"], "--set", "max_steps=1"));
        Assert.True(plain.ExitCode == 0, plain.Stderr + plain.Stdout);
        var zero = MpiRun.Run(2, TinyArgs(data, tmp["zero"], ["--set", "max_steps=1", .. Zero1]));
        Assert.True(zero.ExitCode == 0, zero.Stderr + zero.Stdout);

        var sizes = GroupSizes().Match(zero.Stdout);
        long decay = Number(sizes.Groups[1].Value), noDecay = Number(sizes.Groups[2].Value);
        var full = StateLine().Match(plain.Stdout);
        var sharded = StateLine().Match(zero.Stdout);
        Assert.True(full.Success && sharded.Success, plain.Stdout + zero.Stdout);
        Assert.Equal(2 * 4 * (decay + noDecay), Number(full.Groups[1].Value));                   // exp_avg + exp_avg_sq, fp32
        Assert.Equal("not sharded", full.Groups[2].Value);
        long slice = ZeroSlices.Range(decay, 0, 2).Length + ZeroSlices.Range(noDecay, 0, 2).Length;
        Assert.Equal(2 * 4 * slice, Number(sharded.Groups[1].Value));
        Assert.StartsWith("ZeRO-1 over 2 ranks", sharded.Groups[2].Value);
    }

    [MpiTheory]
    [InlineData("zero", "one")]     // 2 ranks with ZeRO-1 to step 2, then 1 process
    [InlineData("one", "zero")]     // 1 process to step 2, then 2 ranks with ZeRO-1
    [InlineData("zero", "zero")]    // 2 ranks with ZeRO-1 throughout: each rank reads its own shard back
    public void Resume_AcrossRankCountsAndZeroStages_ContinuesTheOneProcessCurve(string first, string second)
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        string[] Args(string outDir, int maxSteps, params string[] more) =>
            TinyArgs(data, tmp[outDir], ["--set", $"max_steps={maxSteps}", "--set", "lr_decay_steps=4", .. more]);
        CliHarness.Result Run(string how, string[] args) => how == "zero" ? MpiRun.Run(2, [.. args, .. Zero1]) : RunOne(args);
        var whole = RunOne(Args("whole", 4));
        Assert.True(whole.ExitCode == 0, whole.Stderr + whole.Stdout);

        var part1 = Run(first, Args("split", 2));
        Assert.True(part1.ExitCode == 0, part1.Stderr + part1.Stdout);
        Assert.Equal(first == "zero", ZeroCheckpoint.IsSharded(Path.Combine(tmp["split"], CheckpointStore.DirName(2))));
        var part2 = Run(second, Args("split", 4, "--resume"));
        Assert.True(part2.ExitCode == 0, part2.Stderr + part2.Stdout);

        AssertSameLosses(Losses(tmp["whole"]), Losses(tmp["split"]), $"{first} → {second}");
    }

    [MpiFact]
    public void Resume_ZeroCheckpointWithAShardDeleted_ExitCode2NamingItAndNothingTouched()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        string[] Args(int maxSteps, params string[] more) => TinyArgs(data, tmp["out"], ["--set", $"max_steps={maxSteps}", .. more]);
        var first = MpiRun.Run(2, Args(2, Zero1));
        Assert.True(first.ExitCode == 0, first.Stderr + first.Stdout);
        string ckpt = Path.Combine(tmp["out"], CheckpointStore.DirName(2)), shard = ZeroCheckpoint.ShardFile(1, 2);
        File.Delete(Path.Combine(ckpt, shard));
        var before = Directory.GetFiles(tmp["out"], "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);

        var r = RunOne(Args(4, "--resume"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"error: {ckpt}: optimizer shard file {shard} is missing", r.Stderr);
        var after = Directory.GetFiles(tmp["out"], "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        Assert.Equal(before, after);
    }
}

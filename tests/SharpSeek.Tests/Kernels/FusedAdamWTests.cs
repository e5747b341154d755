using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SharpSeek.Kernels;
using SharpSeek.Tests.Kernels;
using SharpSeek.Training;

namespace SharpSeek.Tests.Kernels;

[Collection(SimdPathCollection.Name)]
public class FusedAdamWTests
{
    /// <summary>Two parameter sets with identical values: one stepped by TorchSharp's AdamW, one by FusedAdamW.</summary>
    private static (List<Parameter> A, List<Parameter> B) Twins(params long[][] shapes)
    {
        manual_seed(11);
        var a = shapes.Select(s => new Parameter(randn(s))).ToList();
        var b = a.Select(p => new Parameter(p.detach().clone())).ToList();
        return (a, b);
    }

    private static List<AdamW.ParamGroup> Groups(List<Parameter> ps, double wd) =>
    [
        new(ps.Take(ps.Count - 1), new AdamW.Options { LearningRate = 1e-2, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = wd }),
        new(ps.Skip(ps.Count - 1), new AdamW.Options { LearningRate = 1e-2, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0 }),
    ];

    private static void SetGrads(List<Parameter> a, List<Parameter> b, int step)
    {
        manual_seed(100 + step);
        for (int i = 0; i < a.Count; i++)
        {
            var g = randn(a[i].shape) * (step % 2 == 0 ? 1e-3 : 1.0);
            a[i].grad = g;
            b[i].grad = g.clone();
        }
    }

    private static void AssertClose(List<Parameter> a, List<Parameter> b)
    {
        for (int i = 0; i < a.Count; i++)
            Assert.True(allclose(a[i], b[i], rtol: 1e-5, atol: 1e-7), $"parameter {i}: max diff {(a[i] - b[i]).abs().max().item<float>()}");
    }

    [Fact]
    public void Step_MatchesTorchSharpAdamW_OverStepsWithDecayAndChangingLr()
    {
        var (a, b) = Twins([70_000], [3, 5], [17]);          // one large enough for the threaded path, odd sizes for the tail
        using var reference = new AdamW(Groups(a, 0.1), 1e-2, 0.9, 0.95, 1e-8, 0.1);
        using var fused = new FusedAdamW(Groups(b, 0.1), 1e-2, 0.9, 0.95, 1e-8, 0.1);
        for (int step = 0; step < 6; step++)
        {
            double lr = 1e-2 * (step + 1) / 6;
            foreach (var g in reference.ParamGroups) g.LearningRate = lr;
            foreach (var g in fused.ParamGroups) g.LearningRate = lr;
            SetGrads(a, b, step);
            reference.step();
            fused.step();
        }
        Assert.True((a[0] - a[0].detach().clone().zero_()).abs().sum().item<float>() > 0);
        AssertClose(a, b);
    }

    [Fact]
    public void SaveAndLoad_StateRoundTripsBetweenBothOptimizers()
    {
        var (a, b) = Twins([40], [4, 4]);
        using var reference = new AdamW(Groups(a, 0.1), 1e-2, 0.9, 0.95, 1e-8, 0.1);
        for (int step = 0; step < 3; step++) { SetGrads(a, b, step); reference.step(); }
        string path = Path.Combine(Path.GetTempPath(), $"fused-adamw-{Guid.NewGuid():N}.bin");
        try
        {
            reference.save_state_dict(path);
            for (int i = 0; i < a.Count; i++) using (no_grad()) b[i].copy_(a[i]);
            using var fused = new FusedAdamW(Groups(b, 0.1), 1e-2, 0.9, 0.95, 1e-8, 0.1);
            fused.LoadStateFrom(path);                          // moments and step count from TorchSharp's AdamW
            SetGrads(a, b, 3);
            reference.step();
            fused.step();
            AssertClose(a, b);                                  // a fresh optimizer would differ: bias correction at step 4, not 1
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LoadStateFrom_NotAnAdamWFile_ClearError()
    {
        var (_, b) = Twins([8]);
        string path = Path.Combine(Path.GetTempPath(), $"sgd-{Guid.NewGuid():N}.bin");
        try
        {
            using (var sgd = optim.SGD(b, 0.1)) sgd.save_state_dict(path);
            using var fused = new FusedAdamW(Groups([.. b, new Parameter(zeros(1))], 0.1), 1e-2, 0.9, 0.95, 1e-8, 0.1);
            var e = Assert.Throws<InvalidDataException>(() => fused.LoadStateFrom(path));
            Assert.Contains("'SGD'", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Step_ParameterWithoutGradient_IsLeftAlone()
    {
        var (_, b) = Twins([8], [8]);
        using var fused = new FusedAdamW(Groups(b, 0.1), 1e-2, 0.9, 0.95, 1e-8, 0.1);
        var before = b[1].detach().clone();
        b[0].grad = ones(8);
        fused.step();
        Assert.Equal(0.0, (b[1] - before).abs().max().item<float>());
    }

    /// <summary>Parameters and moments after 4 steps (weight decay on, learning rate changing) on <paramref name="path"/>.</summary>
    private static (List<Parameter> Params, byte[] State) StepsOn(SimdPath path)
    {
        var (_, b) = Twins([70_000], [3, 5], [17]);        // threaded; 15 and 17 elements leave tails on every path
        using var fused = new FusedAdamW(Groups(b, 0.1), 1e-2, 0.9, 0.95, 1e-8, 0.1);
        using (SimdPaths.Force(path))
            for (int step = 0; step < 4; step++)
            {
                foreach (var g in fused.ParamGroups) g.LearningRate = 1e-2 * (step + 1) / 4;
                SetGrads(b, b, step);
                fused.step();
            }
        using var state = new MemoryStream();
        using (var writer = new BinaryWriter(state, System.Text.Encoding.UTF8, leaveOpen: true)) fused.save_state_dict(writer);
        return (b, state.ToArray());
    }

    /// <summary>
    /// Every path does the same correctly rounded float32 operations in the same order (no fused multiply-add), so the
    /// parameters and both moments equal the scalar path's bit for bit.
    /// </summary>
    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void Step_EachPath_BitIdenticalToScalarPath(SimdPath path)
    {
        var (reference, referenceState) = StepsOn(SimdPath.Scalar);
        var (actual, actualState) = StepsOn(path);
        for (int i = 0; i < reference.Count; i++)
            Assert.True(actual[i].equal(reference[i]).all().item<bool>(), $"{path}: parameter {i} differs from the scalar path");
        Assert.Equal(referenceState, actualState);                                              // exp_avg, exp_avg_sq, step
    }

    [Fact]
    public void Step_ScalarPath_MatchesTorchSharpAdamW()
    {
        var (a, b) = Twins([70_000], [3, 5], [17]);
        using var reference = new AdamW(Groups(a, 0.1), 1e-2, 0.9, 0.95, 1e-8, 0.1);
        using var fused = new FusedAdamW(Groups(b, 0.1), 1e-2, 0.9, 0.95, 1e-8, 0.1);
        using (SimdPaths.Force(SimdPath.Scalar))
            for (int step = 0; step < 3; step++)
            {
                SetGrads(a, b, step);
                reference.step();
                fused.step();
            }
        AssertClose(a, b);
    }
}

using SharpSeek.Distributed;

namespace SharpSeek.Tests.Distributed;

public class ScalingModelTests
{
    // A scenario whose numbers are easy by hand: 10⁸ parameters (4·10⁸ fp32 gradient bytes), 1,000 tokens per step on one
    // machine of 6·10¹¹ FLOP/s (6·10⁸·1000 / 6·10¹¹ = 1 s of compute), 10 Gb/s = 1.25·10⁹ B/s, α = 1 ms, one bucket.
    private static ScalingScenario Easy(BatchScaling batch, bool overlap = false) => new()
    {
        Parameters = 100_000_000, BatchTokens = 1000, Batch = batch, MachineFlopsPerSecond = 6e11,
        LinkBytesPerSecond = 1.25e9, LatencySeconds = 1e-3, BucketCapBytes = 1L << 40, Overlap = overlap,
    };

    [Fact]
    public void GradientBytes_Gpt2SmallFp32AndBf16_ParametersTimesElementSize()
    {
        Assert.Equal(497_759_232L, ScalingModel.GradientBytes(124_439_808, 4));
        Assert.Equal(248_879_616L, ScalingModel.GradientBytes(124_439_808, 2));
    }

    [Fact]
    public void LinkBytesPerSecond_GigabitsPerSecond_DividedByEight()
    {
        Assert.Equal(1.25e9, ScalingModel.LinkBytesPerSecond(10));
        Assert.Equal(3.125e9, ScalingModel.LinkBytesPerSecond(25));
        Assert.Equal(12.5e9, ScalingModel.LinkBytesPerSecond(100));
    }

    [Fact]
    public void Buckets_ConfigAGradient_CeilingOfBytesOverCap()
    {
        const long cap = 25L * 1024 * 1024;
        Assert.Equal(5L, ScalingModel.Buckets(120_250_368, cap));   // config A fp32: 4.59 caps
        Assert.Equal(3L, ScalingModel.Buckets(60_125_184, cap));    // bf16: 2.29 caps
        Assert.Equal(1L, ScalingModel.Buckets(cap, cap));
        Assert.Equal(0L, ScalingModel.Buckets(0, cap));
    }

    [Fact]
    public void RingAllReduceSeconds_FourMachines_BandwidthTermPlusLatencyTerm()
    {
        // 2·3/4 · 4e8 / 1.25e9 = 0.48 s; 2·3 · 1 ms = 6 ms
        Assert.Equal(0.486, ScalingModel.RingAllReduceSeconds(4, 4e8, 1.25e9, 1e-3), 12);
    }

    [Fact]
    public void RingAllReduceSeconds_ThreeMessages_PayTheLatencyThreeTimes()
    {
        // 2·1/2 · 1e9 / 1e9 = 1 s; 3 · 2·1 · 10 µs = 60 µs
        Assert.Equal(1.00006, ScalingModel.RingAllReduceSeconds(2, 1e9, 1e9, 1e-5, messages: 3), 12);
    }

    [Fact]
    public void RingAllReduceSeconds_OneMachine_IsZero() => Assert.Equal(0.0, ScalingModel.RingAllReduceSeconds(1, 4e8, 1.25e9, 1e-3));

    [Fact]
    public void StepSeconds_OverlapTakesTheMaxElseTheSum()
    {
        Assert.Equal(1.5, ScalingModel.StepSeconds(1.0, 0.5, overlap: false));
        Assert.Equal(1.0, ScalingModel.StepSeconds(1.0, 0.5, overlap: true));
        Assert.Equal(2.0, ScalingModel.StepSeconds(1.0, 2.0, overlap: true));
    }

    [Fact]
    public void TrainingFlops_SixPerParameterAndToken() => Assert.Equal(6e11, ScalingModel.TrainingFlops(100_000_000, 1000));

    [Fact]
    public void AchievedFlopsPerSecond_FlopsOverSeconds() => Assert.Equal(3e11, ScalingModel.AchievedFlopsPerSecond(100_000_000, 1000, 2.0));

    [Fact]
    public void Predict_FixedPerMachineFourMachines_MatchesHandComputedValues()
    {
        // compute 1 s, all-reduce 0.486 s → step 1.486 s, 4000 tokens per step
        var p = ScalingModel.Predict(Easy(BatchScaling.FixedPerMachine), 4);
        Assert.Equal(1000.0, p.TokensPerMachine);
        Assert.Equal(1.0, p.ComputeSeconds, 12);
        Assert.Equal(0.486, p.AllReduceSeconds, 12);
        Assert.Equal(1.486, p.StepSeconds, 12);
        Assert.Equal(2691.790040376851, p.TokensPerSecond, 9);
        Assert.Equal(0.6729475100942126, p.Efficiency, 12);   // 1 / 1.486
    }

    [Fact]
    public void Predict_FixedGlobalFourMachines_MatchesHandComputedValues()
    {
        // 250 tokens each: compute 0.25 s + 0.486 s → 1000 / 0.736 tokens/s, against 4 × 1000
        var p = ScalingModel.Predict(Easy(BatchScaling.FixedGlobal), 4);
        Assert.Equal(250.0, p.TokensPerMachine);
        Assert.Equal(0.736, p.StepSeconds, 12);
        Assert.Equal(1358.695652173913, p.TokensPerSecond, 9);
        Assert.Equal(0.33967391304347827, p.Efficiency, 12);
    }

    [Fact]
    public void Predict_FixedGlobalWithOverlap_StepIsTheAllReduce()
    {
        // max(0.25, 0.486) = 0.486 s → 1000 / 0.486 / 4000
        var p = ScalingModel.Predict(Easy(BatchScaling.FixedGlobal, overlap: true), 4);
        Assert.Equal(0.486, p.StepSeconds, 12);
        Assert.Equal(0.5144032921810701, p.Efficiency, 12);
    }

    [Fact]
    public void Predict_DefaultBucketCap_PaysTheLatencyPerBucket()
    {
        // 4e8 bytes in 25 MiB buckets: ⌈15.26⌉ = 16 → 0.48 + 16 · 6 ms = 0.576 s
        var p = ScalingModel.Predict(Easy(BatchScaling.FixedPerMachine) with { BucketCapBytes = 25L * 1024 * 1024 }, 4);
        Assert.Equal(0.576, p.AllReduceSeconds, 12);
    }

    [Fact]
    public void Predict_Bf16Buckets_HalveTheBandwidthTerm()
    {
        // 2e8 bytes: 2·3/4 · 0.16 = 0.24 s + 6 ms
        var p = ScalingModel.Predict(Easy(BatchScaling.FixedPerMachine) with { BytesPerElement = 2 }, 4);
        Assert.Equal(0.246, p.AllReduceSeconds, 12);
    }

    [Fact]
    public void Predict_OneMachine_EfficiencyIsOne()
    {
        var p = ScalingModel.Predict(Easy(BatchScaling.FixedGlobal), 1);
        Assert.Equal(0.0, p.AllReduceSeconds);
        Assert.Equal(1000.0, p.TokensPerSecond, 9);
        Assert.Equal(1.0, p.Efficiency, 12);
    }

    [Fact]
    public void LargestEfficient_FixedGlobal_LastMachineCountAtOrAboveHalf()
    {
        // N=2: 0.5 + 0.322 s → efficiency 0.608; N=4: 0.340
        Assert.Equal(2, ScalingModel.LargestEfficient(Easy(BatchScaling.FixedGlobal), [1, 2, 4, 8], 0.5));
        Assert.Null(ScalingModel.LargestEfficient(Easy(BatchScaling.FixedGlobal), [2, 4, 8], 0.9));
    }

    [Fact]
    public void FirstDiminishing_FixedGlobal_FirstDoublingAddingLessThanTenPercent()
    {
        // tokens/s: N=1 1000, N=2 1216.5 (+21.7%), N=4 1358.7 (+11.7%), N=8 1000/(0.125+0.574) = 1430.6 (+5.3%)
        Assert.Equal(8, ScalingModel.FirstDiminishing(Easy(BatchScaling.FixedGlobal), [1, 2, 4, 8, 16], 0.10));
        Assert.Null(ScalingModel.FirstDiminishing(Easy(BatchScaling.FixedPerMachine), [1, 2], 0.10));
    }

    [Fact]
    public void FitLatencyBandwidth_TwoRanksExactLine_RecoversAlphaAndBandwidth()
    {
        // α = 10 µs, 1 GB/s, N = 2: t = 2α + bytes / 1e9
        var samples = new[] { (4096.0, 2.4096e-5), (1048576.0, 1.068576e-3), (67108864.0, 0.067128864) };
        var (alpha, bandwidth) = ScalingModel.FitLatencyBandwidth(samples, 2);
        Assert.Equal(1.0, alpha / 1e-5, 6);
        Assert.Equal(1.0, bandwidth / 1e9, 9);
    }

    [Fact]
    public void FitLatencyBandwidth_FourRanksExactLine_RecoversAlphaAndBandwidth()
    {
        // α = 5 µs, 2 GB/s, N = 4: t = 6α + 1.5 · bytes / 2e9 = 3e-5 + 7.5e-10 · bytes
        var samples = new[] { (1e6, 7.8e-4), (1e8, 0.07503) };
        var (alpha, bandwidth) = ScalingModel.FitLatencyBandwidth(samples, 4);
        Assert.Equal(1.0, alpha / 5e-6, 6);
        Assert.Equal(1.0, bandwidth / 2e9, 9);
    }

    [Fact]
    public void FitLatencyBandwidth_OneSize_Throws() =>
        Assert.Throws<ArgumentException>(() => ScalingModel.FitLatencyBandwidth([(4096.0, 1e-5), (4096.0, 2e-5)], 2));
}

using SharpSeek.Kernels;
using SharpSeek.Training;

namespace SharpSeek.Tests.Training;

public class PrecisionChoiceTests
{
    private static readonly Bf16Support Native = new(true, true, false, "cpuid");
    private static readonly Bf16Support Emulated = new(false, false, false, "cpuid");

    [Theory]
    [InlineData("auto", true, "bf16", false)]
    [InlineData("auto", false, "fp32", false)]
    [InlineData("fp32", true, "fp32", false)]
    [InlineData("fp32", false, "fp32", false)]
    [InlineData("bf16", true, "bf16", false)]
    [InlineData("bf16", false, "bf16", true)]
    public void Resolve_RequestAndCpu_GiveHandCheckedPrecision(string requested, bool native, string resolved, bool emulated)
    {
        var c = PrecisionChoice.Resolve(requested, native ? Native : Emulated);
        Assert.Equal((requested, resolved, emulated), (c.Requested, c.Resolved, c.Emulated));
    }

    [Fact]
    public void Resolve_AutoWithoutNativeBf16_SaysWhy() =>
        Assert.Equal("precision auto: cpu has no native bf16 (AVX512_BF16/AMX-BF16)", PrecisionChoice.Resolve("auto", Emulated).Reason);

    [Fact]
    public void Resolve_UnknownPrecision_ThrowsConfigException() =>
        Assert.Throws<ConfigException>(() => PrecisionChoice.Resolve("fp16", Native));

    [Fact]
    public void TrainConfig_Default_IsAuto() => Assert.Equal("auto", new TrainConfig().Precision);

    [Fact]
    public void Run_AutoOnCpuWithoutNativeBf16_TrainsInFp32AndSaysSoOnce()
    {
        var config = TrainingTestData.Config(TrainingTestData.TempDir()) with { MaxSteps = 2, Precision = "auto" };
        var log = new List<string>();
        var trainer = new Trainer(config, TrainingTestData.Data(), TrainingTestData.Factory()) { Cpu = Emulated with { Source = CpuFeatures.Bf16Variable }, OnLog = log.Add };
        trainer.Run();
        Assert.Single(log, l => l.StartsWith("precision auto: cpu has no native bf16"));
        Assert.DoesNotContain(log, l => l.StartsWith("warning"));
        Assert.Equal("fp32", CheckpointStore.ReadState(trainer.Store.Latest()!).State.Precision);
    }

    [Fact]
    public void Run_AutoOnCpuWithNativeBf16_TrainsInBf16()
    {
        var config = TrainingTestData.Config(TrainingTestData.TempDir()) with { MaxSteps = 2, Precision = "auto" };
        var trainer = new Trainer(config, TrainingTestData.Data(), TrainingTestData.Factory()) { Cpu = Native };
        trainer.Run();
        Assert.Equal("bf16", CheckpointStore.ReadState(trainer.Store.Latest()!).State.Precision);
    }

    [Fact]
    public void Run_ExplicitBf16OnCpuWithoutNativeBf16_WarnsWithMeasuredSlowdown()
    {
        var config = TrainingTestData.Config(TrainingTestData.TempDir()) with { MaxSteps = 2, Precision = "bf16" };
        var log = new List<string>();
        var trainer = new Trainer(config, TrainingTestData.Data(), TrainingTestData.Factory()) { Cpu = Emulated, OnLog = log.Add };
        trainer.Run();
        Assert.Matches(@"^warning: bf16 matmul (is [\d.]+× slower than|took [\d.]+× the) fp32", Assert.Single(log, l => l.StartsWith("warning")));
        Assert.Equal("bf16", CheckpointStore.ReadState(trainer.Store.Latest()!).State.Precision);
    }
}

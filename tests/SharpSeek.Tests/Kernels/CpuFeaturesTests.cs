using SharpSeek.Kernels;

namespace SharpSeek.Tests.Kernels;

public class CpuFeaturesTests
{
    // CPUID leaf 7: subleaf 1 EAX bit 5 (0x20) = AVX512_BF16, subleaf 0 EDX bit 22 (0x400000) = AMX-BF16 (Intel SDM vol. 2A).
    [Theory]
    [InlineData(7, 1, 0, 0x20, true, true, true, false)]             // Zen 4/5, Cooper Lake: AVX512_BF16
    [InlineData(7, 1, 0x400000, 0x20, true, true, true, true)]       // Sapphire Rapids: both
    [InlineData(7, 0, 0x400000, 0, true, true, false, true)]         // AMX-BF16 alone
    [InlineData(7, 1, 0, 0, true, false, false, false)]              // AVX-512 without bf16 (Ice Lake)
    [InlineData(7, 1, 0, 0, false, false, false, false)]             // Zen 3: AVX2 only
    [InlineData(7, 1, 0, 0x20, false, false, true, false)]           // bf16 in the CPU, AVX-512 state not enabled by the OS
    [InlineData(7, 0, 0, 0x20, true, false, false, false)]           // subleaf 1 not reported: its EAX means nothing
    [InlineData(6, 1, 0x400000, 0x20, true, false, false, false)]    // leaf 7 not reported
    [InlineData(7, 1, 0x200000, 0x10, true, false, false, false)]    // neighbouring bits (21, 4) are not bf16
    public void FromCpuid_RegisterBits_GiveHandCheckedSupport(int maxLeaf, int maxSubleaf, int edx, int eax, bool os,
                                                             bool native, bool avx512Bf16, bool amx)
    {
        var s = CpuFeatures.FromCpuid(maxLeaf, maxSubleaf, edx, eax, os);
        Assert.Equal((native, avx512Bf16, amx, "cpuid"), (s.Native, s.Avx512Bf16, s.AmxBf16, s.Source));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("native", true)]
    [InlineData(" Emulated ", false)]
    public void ParseOverride_KnownValues_Parsed(string? value, bool? expected) => Assert.Equal(expected, CpuFeatures.ParseOverride(value));

    [Fact]
    public void ParseOverride_UnknownValue_ThrowsNamingTheVariable()
    {
        var e = Assert.Throws<ConfigException>(() => CpuFeatures.ParseOverride("yes"));
        Assert.Contains(CpuFeatures.Bf16Variable, e.Message);
    }

    [Fact]
    public void Bf16_ThisMachine_AgreesWithTheKernelsCpuFlags()
    {
        if (!File.Exists("/proc/cpuinfo") || Environment.GetEnvironmentVariable(CpuFeatures.Bf16Variable) is { Length: > 0 }) return;
        var flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags")).Split(' ');
        // .NET may run with AVX-512 turned off (DOTNET_EnableAVX512=0) on a CPU that has it: then bf16 is not native for us either.
        bool kernelSays = (flags.Contains("avx512_bf16") || flags.Contains("amx_bf16")) && flags.Contains("avx512f")
                          && System.Runtime.Intrinsics.X86.Avx512F.IsSupported;
        Assert.Equal(kernelSays, CpuFeatures.Bf16.Native);
    }

    [Fact]
    public void Describe_ForcedEmulated_NamesTheSwitch()
    {
        var s = new Bf16Support(false, true, false, CpuFeatures.Bf16Variable);
        Assert.Equal("cpu has no native bf16 (AVX512_BF16/AMX-BF16, forced by SHARPSEEK_CPU_BF16)", s.Describe());
    }

    [Fact]
    public void Describe_NativeFromCpuid_NamesTheUnit() =>
        Assert.Equal("cpu multiplies bf16 natively (AVX512_BF16)", new Bf16Support(true, true, false, "cpuid").Describe());

    [Theory]
    [InlineData(87.4, "bf16 matmul is 87× slower than fp32 on this CPU")]
    [InlineData(2.34, "bf16 matmul is 2.3× slower than fp32 on this CPU")]
    [InlineData(0.276, "bf16 matmul took 0.28× the fp32 time on this CPU")]
    public void DescribeSlowdown_Ratio_ReadableSentence(double ratio, string expected) => Assert.Equal(expected, CpuFeatures.DescribeSlowdown(ratio));

    [Fact]
    public void Bf16MatmulSlowdown_Calibration_PositiveAndQuick()
    {
        CpuFeatures.Bf16MatmulSlowdown(64);                                  // load the kernels
        var t = System.Diagnostics.Stopwatch.StartNew();
        double ratio = CpuFeatures.Bf16MatmulSlowdown();
        Assert.True(ratio > 0 && double.IsFinite(ratio), $"ratio {ratio}");
        Assert.True(t.ElapsedMilliseconds < 1000, $"{t.ElapsedMilliseconds} ms (target ≤ 100 ms; the machine may be busy)");
    }
}

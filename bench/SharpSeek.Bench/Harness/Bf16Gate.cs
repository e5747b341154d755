using SharpSeek.Kernels;

namespace SharpSeek.Bench.Harness;

/// <summary>
/// Whether a benchmark's bf16 parts can run here. Where the CPU has no native bf16 (AVX512_BF16/AMX-BF16) LibTorch
/// emulates bf16 matmuls ~90× slower than fp32, so bf16 measurements are skipped with this reason in the JSON.
/// <c>SHARPSEEK_CPU_BF16=emulated</c> forces the skip path (see <see cref="CpuFeatures"/>).
/// </summary>
public static class Bf16Gate
{
    /// <summary>Null where bf16 is native; else why bf16 is skipped, with the measured slowdown of a small matmul.</summary>
    public static string? SkipReason()
    {
        var cpu = CpuFeatures.Bf16;
        return cpu.Native ? null : $"{cpu.Describe()}: {CpuFeatures.DescribeSlowdown(CpuFeatures.Bf16MatmulSlowdown())}";
    }
}

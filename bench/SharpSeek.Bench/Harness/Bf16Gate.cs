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
        if (cpu.Native) return null;
        // One thread: in this parent process (no OMP_WAIT_POLICY) a second OpenMP thread on a busy machine turns each
        // small fp32 matmul into a wait for the scheduler, which says nothing about bf16 vs fp32.
        int threads = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(1);
        try { return $"{cpu.Describe()}: {CpuFeatures.DescribeSlowdown(CpuFeatures.Bf16MatmulSlowdown())}"; }
        finally { TorchSharp.torch.set_num_threads(threads); }
    }
}

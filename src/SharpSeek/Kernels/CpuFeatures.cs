using System.Diagnostics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Kernels;

/// <summary>What this CPU can multiply in bf16, and where that was learnt: "cpuid" or the test switch's name.</summary>
public sealed record Bf16Support(bool Native, bool Avx512Bf16, bool AmxBf16, string Source)
{
    /// <summary>One phrase for logs: "native bf16 (AVX512_BF16)", "no native bf16 (AVX512_BF16/AMX-BF16)", …</summary>
    public string Describe()
    {
        string how = Source == "cpuid" ? "" : $", forced by {Source}";
        if (!Native) return $"cpu has no native bf16 (AVX512_BF16/AMX-BF16{how})";
        var units = new List<string>();
        if (Avx512Bf16) units.Add("AVX512_BF16");
        if (AmxBf16) units.Add("AMX-BF16");
        return $"cpu multiplies bf16 natively ({(units.Count > 0 ? string.Join(", ", units) : "native")}{how})";
    }
}

/// <summary>
/// CPU features that change what is fast: whether bf16 matmuls run natively (AVX512_BF16 or AMX-BF16, Intel SDM vol. 2A,
/// CPUID leaf 7) or are emulated in fp32 by LibTorch/oneDNN (~90× slower for a 2048³ matmul on an AVX2-only Zen 3).
/// <para>Test and benchmark switch: the environment variable <c>SHARPSEEK_CPU_BF16=native|emulated</c> overrides the
/// detection (read only here), so the non-native path can be exercised on a CPU that has bf16.</para>
/// </summary>
public static class CpuFeatures
{
    /// <summary>Environment variable that forces <see cref="Bf16"/> (tests and benchmarks only): "native" or "emulated".</summary>
    public const string Bf16Variable = "SHARPSEEK_CPU_BF16";

    private static readonly Lazy<Bf16Support> Detected = new(DetectBf16);

    /// <summary>This CPU's bf16 matmul support, or the value forced by <see cref="Bf16Variable"/>.</summary>
    public static Bf16Support Bf16
    {
        get
        {
            var forced = ParseOverride(Environment.GetEnvironmentVariable(Bf16Variable));
            var d = Detected.Value;
            return forced is null ? d : d with { Native = forced.Value, Source = Bf16Variable };
        }
    }

    /// <summary>
    /// The test switch's value: null when unset or empty, true for "native", false for "emulated".
    /// Throws <see cref="ConfigException"/> for anything else.
    /// </summary>
    public static bool? ParseOverride(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "native" => true,
        "emulated" => false,
        _ => throw new ConfigException($"{Bf16Variable} must be native or emulated, got '{value}'"),
    };

    /// <summary>
    /// bf16 capability from CPUID registers: leaf 7 subleaf 1 EAX bit 5 = AVX512_BF16 (valid when leaf 7 subleaf 0
    /// EAX, the highest subleaf, is ≥ 1); leaf 7 subleaf 0 EDX bit 22 = AMX-BF16. Native only when the OS also saves
    /// the AVX-512 state (<paramref name="avx512Os"/>, i.e. Avx512F.IsSupported), which both need.
    /// </summary>
    public static Bf16Support FromCpuid(int maxLeaf, int leaf7MaxSubleaf, int leaf7Sub0Edx, int leaf7Sub1Eax, bool avx512Os)
    {
        bool avx512Bf16 = maxLeaf >= 7 && leaf7MaxSubleaf >= 1 && (leaf7Sub1Eax & (1 << 5)) != 0;
        bool amxBf16 = maxLeaf >= 7 && (leaf7Sub0Edx & (1 << 22)) != 0;
        return new Bf16Support((avx512Bf16 || amxBf16) && avx512Os, avx512Bf16, amxBf16, "cpuid");
    }

    private static Bf16Support DetectBf16()
    {
        if (!X86Base.IsSupported) return new Bf16Support(false, false, false, "cpuid");
        int maxLeaf = X86Base.CpuId(0, 0).Eax;
        if (maxLeaf < 7) return FromCpuid(maxLeaf, 0, 0, 0, Avx512F.IsSupported);
        var sub0 = X86Base.CpuId(7, 0);
        int sub1Eax = sub0.Eax >= 1 ? X86Base.CpuId(7, 1).Eax : 0;
        return FromCpuid(maxLeaf, sub0.Eax, sub0.Edx, sub1Eax, Avx512F.IsSupported);
    }

    /// <summary>
    /// Quick calibration (≤ ~100 ms): best time of a <paramref name="size"/>³ bf16 matmul ÷ best time of the same fp32
    /// matmul through LibTorch, on the current torch thread count. ≫ 1 where bf16 is emulated.
    /// </summary>
    public static double Bf16MatmulSlowdown(int size = 256)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var a = linspace(-1, 1, size * size).view(size, size);                     // (n, n); no RNG drawn
        var b = a.t().contiguous();                                                 // (n, n)
        double fp32 = Best(a, b, budgetMs: 20);
        double bf16 = Best(a.to(ScalarType.BFloat16), b.to(ScalarType.BFloat16), budgetMs: 40);
        return bf16 / fp32;

        static double Best(Tensor x, Tensor y, double budgetMs)
        {
            using (torch.matmul(x, y)) { }                                              // warm-up: first-call set-up
            double best = double.MaxValue, spent = 0;
            for (int i = 0; i < 8 && (i < 2 || spent < budgetMs); i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                using var r = torch.matmul(x, y);
                double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                spent += ms;
                best = Math.Min(best, ms);
            }
            return Math.Max(best, 1e-6);
        }
    }

    /// <summary>"bf16 matmul is 87× slower than fp32 on this CPU" (or "… took 0.28× the fp32 time …" when it is not clearly slower).</summary>
    public static string DescribeSlowdown(double ratio) =>
        ratio >= 10 ? FormattableString.Invariant($"bf16 matmul is {ratio:F0}× slower than fp32 on this CPU")
        : ratio >= 1.5 ? FormattableString.Invariant($"bf16 matmul is {ratio:F1}× slower than fp32 on this CPU")
        : FormattableString.Invariant($"bf16 matmul took {ratio:F2}× the fp32 time on this CPU");
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

[assembly: InternalsVisibleTo("SharpSeek.Tests")]

namespace SharpSeek.Kernels;

/// <summary>The vector width a C# kernel computes at.</summary>
public enum SimdPath
{
    /// <summary>One float at a time: the reference each vector path is tested against.</summary>
    Scalar = 1,

    /// <summary>8 floats per instruction (AVX2 on x64).</summary>
    Vector256 = 256,

    /// <summary>16 floats per instruction (AVX-512 F and BW).</summary>
    Vector512 = 512,
}

/// <summary>
/// The one SIMD-width switch of the C# kernels (<see cref="GeluTanh"/>, <see cref="SoftmaxCrossEntropyKernel"/>,
/// <see cref="DecodeGemv"/>, FusedAdamW): by default the widest path this CPU accelerates. Tests and benchmarks narrow
/// it to compare the paths on any machine: the environment variable <c>SHARPSEEK_SIMD</c> = 512 | 256 | scalar, read once
/// per process (a path the CPU cannot run falls back to the widest it can, see <see cref="Describe"/>), or
/// <see cref="Force"/> inside a test.
/// </summary>
/// <remarks>
/// Each kernel reads <see cref="Current"/> once per call and hands it to its worker threads, so one call never mixes
/// paths. The path is one process-wide value (not per thread: the kernels' Parallel.For workers must see it), so tests
/// that force it run in one collection with parallelization disabled.
/// </remarks>
public static class SimdPaths
{
    /// <summary>Name of the environment variable that narrows the path: <c>512</c>, <c>256</c> or <c>scalar</c>.</summary>
    public const string EnvironmentVariable = "SHARPSEEK_SIMD";

    /// <summary>The widest path this CPU accelerates.</summary>
    public static SimdPath Widest { get; } =
        CanRun(SimdPath.Vector512) ? SimdPath.Vector512 : CanRun(SimdPath.Vector256) ? SimdPath.Vector256 : SimdPath.Scalar;

    /// <summary>What <c>SHARPSEEK_SIMD</c> asked for (null when unset or empty).</summary>
    public static string? Requested { get; } = Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } s ? s.Trim() : null;

    /// <summary>The path from the environment, 0 when <see cref="Requested"/> is not a path name (reported when a kernel runs).</summary>
    private static readonly SimdPath Configured = Resolve(Requested) ?? 0;

    /// <summary>A path set by <see cref="Force"/>, 0 when none.</summary>
    private static int _forced;

    /// <summary>The path the kernels take now: the one <see cref="Force"/> set, else the configured one.</summary>
    /// <exception cref="ConfigException"><c>SHARPSEEK_SIMD</c> holds something other than 512, 256 or scalar.</exception>
    public static SimdPath Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int forced = Volatile.Read(ref _forced);
            if (forced != 0) return (SimdPath)forced;
            return Configured != 0 ? Configured : throw new ConfigException(
                $"{EnvironmentVariable} must be 512, 256 or scalar; got '{Requested}'");
        }
    }

    /// <summary>True when the path was asked for (<see cref="Force"/> or <c>SHARPSEEK_SIMD</c>), not picked for this CPU.</summary>
    public static bool IsExplicit => Volatile.Read(ref _forced) != 0 || Requested is not null;

    /// <summary>
    /// Whether this CPU runs <paramref name="path"/> in hardware: Vector512 needs AVX-512 F and BW (vpermw, vpermps,
    /// vscalefps), Vector256 needs AVX2 (vpermps). .NET would run a Vector512 op in software where it is not
    /// accelerated, slowly and without the AVX-512-only instructions, so such a path is never taken.
    /// </summary>
    public static bool CanRun(SimdPath path) => path switch
    {
        SimdPath.Vector512 => SimdMath.Avx512,
        SimdPath.Vector256 => Vector256.IsHardwareAccelerated && Avx2.IsSupported,
        SimdPath.Scalar => true,
        _ => false,
    };

    /// <summary>
    /// The path for a <c>SHARPSEEK_SIMD</c> value: <see cref="Widest"/> when it is unset or names a path this CPU cannot
    /// run (see <see cref="Describe"/>), null when it names none.
    /// </summary>
    internal static SimdPath? Resolve(string? requested) =>
        string.IsNullOrWhiteSpace(requested) ? Widest : Parse(requested) is { } p ? (CanRun(p) ? p : Widest) : null;

    /// <summary><paramref name="text"/> (512, 256 or scalar; also Vector512, Vector256, any case) as a path, null if it is none.</summary>
    public static SimdPath? Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "512" or "vector512" => SimdPath.Vector512,
        "256" or "vector256" => SimdPath.Vector256,
        "scalar" or "1" => SimdPath.Scalar,
        _ => null,
    };

    /// <summary>One line for logs and benchmark JSON: the current path and, when it differs, what was asked for and why.</summary>
    public static string Describe()
    {
        if (Volatile.Read(ref _forced) != 0) return $"{Current} (forced by a test)";
        if (Requested is null) return $"{Widest} (widest this CPU accelerates)";
        if (Parse(Requested) is not { } asked) return $"{Widest} ({EnvironmentVariable}='{Requested}' is not 512, 256 or scalar)";
        return asked == Configured
            ? $"{Configured} ({EnvironmentVariable}={Requested})"
            : $"{Configured} ({EnvironmentVariable}={Requested}: {asked} is not accelerated on this CPU)";
    }

    /// <summary>
    /// Makes every kernel take <paramref name="path"/> until the result is disposed (then the previous path again). For
    /// tests: process-wide, so run them where no other test computes at the same time.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">This CPU cannot run <paramref name="path"/> (<see cref="CanRun"/>).</exception>
    internal static IDisposable Force(SimdPath path)
    {
        if (!CanRun(path)) throw new PlatformNotSupportedException($"{path} is not accelerated on this CPU");
        int previous = Interlocked.Exchange(ref _forced, (int)path);
        return new Restore(previous);
    }

    private sealed class Restore(int previous) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) Volatile.Write(ref _forced, previous);
        }
    }

    /// <summary>Name of the environment variable that turns the VNNI dot products off: <c>0</c> (anything else leaves them on).</summary>
    public const string VnniVariable = "SHARPSEEK_VNNI";

    /// <summary>
    /// Whether this CPU has AVX-VNNI (vpdpbusd on 128/256-bit registers; .NET 10 exposes no 512-bit form, no AVX512-VNNI
    /// class), which the integer kernels (<see cref="QuantizedGemm"/>) use for their u8×s8 dot products on the Vector256
    /// path. Their Vector512 path keeps vpmaddubsw/vpmaddwd: two 256-bit vpdpbusd per 64 bytes measured slower there.
    /// </summary>
    public static bool VnniSupported => AvxVnni.IsSupported && Avx2.IsSupported;

    /// <summary>VNNI unless <c>SHARPSEEK_VNNI=0</c>, read once per process.</summary>
    private static readonly bool VnniConfigured = VnniSupported && Environment.GetEnvironmentVariable(VnniVariable)?.Trim() != "0";

    /// <summary>0: as configured; 1: forced on; 2: forced off (<see cref="ForceVnni"/>).</summary>
    private static int _vnniForced;

    /// <summary>Whether the integer kernels use VNNI now: forced by <see cref="ForceVnni"/>, else supported and not turned off.</summary>
    public static bool Vnni
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref _vnniForced) switch { 1 => true, 2 => false, _ => VnniConfigured };
    }

    /// <summary>Makes the integer kernels use VNNI (<paramref name="on"/>) or not until the result is disposed. For tests, like <see cref="Force"/>.</summary>
    /// <exception cref="PlatformNotSupportedException"><paramref name="on"/> and this CPU has no AVX-VNNI.</exception>
    internal static IDisposable ForceVnni(bool on)
    {
        if (on && !VnniSupported) throw new PlatformNotSupportedException("AVX-VNNI is not supported on this CPU");
        int previous = Interlocked.Exchange(ref _vnniForced, on ? 1 : 2);
        return new RestoreVnni(previous);
    }

    private sealed class RestoreVnni(int previous) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) Volatile.Write(ref _vnniForced, previous);
        }
    }

    /// <summary>True when <paramref name="path"/> is Vector512 and this CPU runs it (a JIT-time constant when false, so the branch goes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Is512(SimdPath path) => SimdMath.Avx512 && path == SimdPath.Vector512;

    /// <summary>True when <paramref name="path"/> is Vector256 and this CPU runs it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Is256(SimdPath path) => Vector256.IsHardwareAccelerated && Avx2.IsSupported && path == SimdPath.Vector256;
}

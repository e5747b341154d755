using SharpSeek.Kernels;

namespace SharpSeek.Training;

/// <summary>
/// The compute precision a run uses: the config's <c>precision</c> ("auto", "fp32" or "bf16") resolved against what the
/// CPU multiplies natively. bf16 mixed precision only pays where bf16 matmuls run in hardware (AVX512_BF16, AMX-BF16);
/// elsewhere LibTorch emulates them, ~90× slower than fp32 on an AVX2-only Zen 3.
/// </summary>
public sealed record PrecisionChoice(string Requested, string Resolved, string Reason, bool Emulated)
{
    public bool Bf16 => Resolved == "bf16";

    /// <summary>
    /// auto → bf16 where <paramref name="cpu"/> multiplies bf16 natively, fp32 otherwise; fp32 and bf16 as asked.
    /// <see cref="Emulated"/> is set for an explicit bf16 on a CPU without native bf16 (the caller warns).
    /// </summary>
    public static PrecisionChoice Resolve(string requested, Bf16Support cpu) => requested switch
    {
        "auto" => new(requested, cpu.Native ? "bf16" : "fp32", $"precision auto: {cpu.Describe()}", false),
        "fp32" => new(requested, "fp32", "precision fp32 as configured", false),
        "bf16" when cpu.Native => new(requested, "bf16", $"precision bf16 as configured; {cpu.Describe()}", false),
        "bf16" => new(requested, "bf16", $"precision bf16 as configured, but {cpu.Describe()}: its bf16 matmuls are emulated; precision auto or fp32 trains faster here", true),
        _ => throw new ConfigException($"precision must be auto, fp32 or bf16, got '{requested}'"),
    };
}

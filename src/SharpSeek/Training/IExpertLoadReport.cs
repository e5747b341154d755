namespace SharpSeek.Training;

/// <summary>
/// A Mixture-of-Experts model that reports how evenly its routed experts were loaded in the last optimizer step
/// (DeepSeek-V3 §2.1.2 measures balance as max load / mean load per layer). The trainer logs it to metrics.jsonl.
/// </summary>
public interface IExpertLoadReport
{
    /// <summary>Max/mean routed-token count per MoE layer over the last optimizer step (1 = perfectly balanced); empty before the first step.</summary>
    IReadOnlyList<double> ExpertLoadImbalance { get; }
}

using SharpSeek.Training;

namespace SharpSeek.Models.DeepSeek;

public sealed partial class DeepSeekV3ForCausalLM : IExpertLoadReport
{
    /// <summary>Max/mean expert load per MoE layer (main layers, then MTP modules) of the last optimizer step.</summary>
    public IReadOnlyList<double> ExpertLoadImbalance =>
        LastStepExpertLoads.Select(counts => counts.Sum() == 0 ? 1.0 : counts.Max() / counts.Average()).ToList();
}

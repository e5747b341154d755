using SharpSeek.Data.Prompts;

namespace SharpSeek.Data.Tasks;

/// <summary>Counts of a trace build: prompts read, prompts a rule can check, samples drawn and usable, samples accepted, prompts with a kept trace, traces kept.</summary>
public sealed record TraceCounts(int Prompts, int CheckedPrompts, int Samples, int UsableSamples, int AcceptedSamples, int PromptsWithTrace, int Kept)
{
    /// <summary>Teacher sample accuracy in percent: accepted samples of all samples drawn for checkable prompts (unfinished ones count as wrong).</summary>
    public double SampleAccuracy => Samples == 0 ? 0 : 100.0 * AcceptedSamples / Samples;
}

/// <summary>
/// Reasoning distillation data as in DeepSeek-R1 §2.3.3 (rejection sampling) and §2.4 (distillation into small models): a
/// teacher writes several solutions per prompt, a rule keeps the correct ones, and up to a few distinct accepted solutions per
/// prompt become SFT examples {prompt, completion} for the student.
/// </summary>
public static class ReasoningTraces
{
    /// <summary>
    /// Whether <paramref name="completion"/> is an acceptable trace for <paramref name="prompt"/>. A completion that uses R1's
    /// tags (<c>&lt;think&gt;</c> or <c>&lt;answer&gt;</c>) is held to the strict rule: R1's format (<see cref="Reward.Format"/>)
    /// and the one tagged answer correct (<see cref="Reward.TaggedScore"/>); any other completion needs a correct final answer
    /// (<see cref="Reward.Correctness"/>). A prompt with <see cref="PromptExample.Task"/> is checked by that task's rule
    /// (Countdown evaluates the expression); a prompt with neither task nor answer cannot be checked and accepts nothing.
    /// </summary>
    public static bool Accept(PromptExample prompt, string completion)
    {
        var task = prompt.Task is { } name ? TaskGenerators.ByName(name) : null;
        if (task is null && prompt.Answer is null) return false;
        var example = new TaskExample(prompt.Prompt, prompt.Answer ?? "", "");
        bool tagged = completion.Contains("<think>", StringComparison.Ordinal) || completion.Contains("<answer>", StringComparison.Ordinal);
        if (tagged) return Reward.Format(completion) == 1.0 && Reward.TaggedScore(task, example, completion) == 1.0;
        return (task?.Score(example, completion) ?? Reward.Correctness(completion, example.Answer)) == 1.0;
    }

    /// <summary>True when a rule can check <paramref name="prompt"/>'s completions (it has an answer or a task).</summary>
    public static bool Checkable(PromptExample prompt) => prompt.Answer is not null || prompt.Task is not null;

    /// <summary>
    /// The kept traces: for each prompt (in order), its usable samples (Usable false: unfinished or malformed)
    /// that <see cref="Accept"/> passes, distinct after trimming, first <paramref name="maxPerPrompt"/> in sample order; and the counts.
    /// <paramref name="samples"/>[i] are prompt i's completions.
    /// </summary>
    public static (IReadOnlyList<TaskExample> Traces, TraceCounts Counts) Select(IReadOnlyList<PromptExample> prompts,
        IReadOnlyList<IReadOnlyList<(string Text, bool Usable)>> samples, int maxPerPrompt)
    {
        if (maxPerPrompt < 1) throw new ConfigException($"traces per prompt must be at least 1, not {maxPerPrompt}");
        if (samples.Count != prompts.Count) throw new ArgumentException($"{samples.Count} sample lists for {prompts.Count} prompts", nameof(samples));
        var traces = new List<TaskExample>();
        int checkedPrompts = 0, drawn = 0, usable = 0, accepted = 0, withTrace = 0;
        for (int i = 0; i < prompts.Count; i++)
        {
            if (!Checkable(prompts[i])) continue;
            checkedPrompts++;
            drawn += samples[i].Count;
            var kept = new List<string>();
            foreach (var (text, ok) in samples[i])
            {
                if (!ok) continue;
                usable++;
                string completion = text.Trim();
                if (completion.Length == 0 || !Accept(prompts[i], completion)) continue;
                accepted++;
                if (kept.Count < maxPerPrompt && !kept.Contains(completion, StringComparer.Ordinal)) kept.Add(completion);
            }
            if (kept.Count > 0) withTrace++;
            traces.AddRange(kept.Select(c => new TaskExample(prompts[i].Prompt, prompts[i].Answer ?? "", c)));
        }
        return (traces, new TraceCounts(prompts.Count, checkedPrompts, drawn, usable, accepted, withTrace, traces.Count));
    }
}


namespace SharpSeek.Data.Tasks;

/// <summary>One preference pair: for <see cref="Prompt"/> (a user message), the <see cref="Chosen"/> completion beats <see cref="Rejected"/>.</summary>
public sealed record PreferencePair(string Prompt, string Chosen, string Rejected);

/// <summary>A prompt's sampled completions with their rule scores (1 = correct).</summary>
public sealed record ScoredSamples(string Prompt, IReadOnlyList<string> Completions, IReadOnlyList<double> Scores);

/// <summary>Counts of a pair build: prompts seen, prompts with both a correct and a wrong sample, pairs written, samples correct.</summary>
public sealed record PairCounts(int Prompts, int MixedPrompts, int Pairs, int Samples, int CorrectSamples);

/// <summary>
/// Preference pairs from a policy's own samples scored by a rule (the verifiable-reward analogue of InstructGPT's ranked
/// comparisons, Ouyang et al. 2022 §3.5): per prompt, distinct correct completions are chosen and distinct wrong ones
/// rejected, each list in first-seen order. Pair k (k = 0, 1, …, min(c·w, maxPairsPerPrompt) − 1) is
/// (correct[i], wrong[(i + ⌊k/c⌋) mod w]) with i = k mod c: the c·w cells of the grid, diagonal by diagonal, each once, so
/// the first pairs use every correct completion and as many wrong ones as they can. Prompts with only correct or only wrong
/// samples give no pair.
/// </summary>
public static class PreferencePairs
{
    /// <summary>The pairs of one prompt (see the class summary); a score of 1 is correct, anything else wrong.</summary>
    public static IReadOnlyList<PreferencePair> ForPrompt(ScoredSamples samples, int maxPairsPerPrompt)
    {
        if (maxPairsPerPrompt < 1) throw new ConfigException($"pairs per prompt must be at least 1, not {maxPairsPerPrompt}");
        if (samples.Completions.Count != samples.Scores.Count)
            throw new ArgumentException($"{samples.Completions.Count} completions but {samples.Scores.Count} scores", nameof(samples));
        var correct = new List<string>();
        var wrong = new List<string>();
        for (int i = 0; i < samples.Completions.Count; i++)
        {
            var list = samples.Scores[i] == 1.0 ? correct : wrong;
            if (!list.Contains(samples.Completions[i], StringComparer.Ordinal)) list.Add(samples.Completions[i]);
        }
        int n = (int)Math.Min((long)correct.Count * wrong.Count, maxPairsPerPrompt);
        var pairs = new List<PreferencePair>(n);
        for (int k = 0; k < n; k++)
        {
            int i = k % correct.Count, j = (i + k / correct.Count) % wrong.Count;
            pairs.Add(new PreferencePair(samples.Prompt, correct[i], wrong[j]));
        }
        return pairs;
    }

    /// <summary>The pairs of every prompt, in prompt order, and the counts.</summary>
    public static (IReadOnlyList<PreferencePair> Pairs, PairCounts Counts) Build(IReadOnlyList<ScoredSamples> prompts, int maxPairsPerPrompt)
    {
        var pairs = new List<PreferencePair>();
        int mixed = 0, samples = 0, correct = 0;
        foreach (var p in prompts)
        {
            var some = ForPrompt(p, maxPairsPerPrompt);
            if (some.Count > 0) mixed++;
            pairs.AddRange(some);
            samples += p.Scores.Count;
            correct += p.Scores.Count(s => s == 1.0);
        }
        return (pairs, new PairCounts(prompts.Count, mixed, pairs.Count, samples, correct));
    }

    /// <summary>Writes one <c>{"prompt", "chosen", "rejected"}</c> line per pair (atomically), the format of the reward-model and DPO verbs.</summary>
    public static void Write(string path, IEnumerable<PreferencePair> pairs) =>
        JsonLines.Write(path, pairs, (w, p) =>
        {
            w.WriteString("prompt", p.Prompt);
            w.WriteString("chosen", p.Chosen);
            w.WriteString("rejected", p.Rejected);
        });
}

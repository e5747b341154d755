using SharpSeek.Data.Tasks;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// DeepSeek-R1's strict accuracy reward (DeepSeek-AI 2025, §2.2.2): 1 when the response's one <c>&lt;answer&gt;…&lt;/answer&gt;</c>
/// holds the right answer, else 0; a missing, unclosed, empty or repeated answer tag scores 0 (<see cref="AnswerChecker.ExtractTaggedAnswer"/>).
/// The answer is checked by the rollout's task rule when it names one (<see cref="Rollout.Task"/>, e.g. Countdown evaluates the
/// expression against the prompt's numbers and target), else compared with <see cref="Rollout.Answer"/> by value
/// (<see cref="Reward.TaggedScore"/>). A rollout with neither throws <see cref="DataException"/>.
/// </summary>
public sealed class AccuracyReward : IRewardFunction
{
    public string Name => "accuracy";

    public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts) => rollouts.Select(ScoreOne).ToList();

    /// <summary>The accuracy reward of one rollout (see the class).</summary>
    public static double ScoreOne(Rollout r)
    {
        var task = r.Task is { } name ? TaskGenerators.ByName(name) : null;
        if (task is null && r.Answer is null)
            throw new DataException($"the accuracy reward needs an expected answer or a task, and the prompt '{Short(r.Prompt)}' has neither");
        return Reward.TaggedScore(task, new TaskExample(r.Prompt, r.Answer ?? "", ""), r.Response);
    }

    /// <summary>True when <see cref="ScoreOne"/> can check <paramref name="r"/> (it has an answer or a task).</summary>
    public static bool CanScore(Rollout r) => r.Answer is not null || r.Task is not null;

    internal static string Short(string text) => text.Length <= 60 ? text : text[..57] + "...";
}

/// <summary>
/// DeepSeek-R1's format reward (§2.2.2): 1 when the response is <c>&lt;think&gt;reasoning&lt;/think&gt;</c> then one
/// <c>&lt;answer&gt;…&lt;/answer&gt;</c> with nothing else around them (<see cref="Reward.Format"/>), else 0.
/// </summary>
public sealed class FormatReward : IRewardFunction
{
    public string Name => "format";

    public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts) => rollouts.Select(r => Reward.Format(r.Response)).ToList();
}

/// <summary>
/// A weighted sum of reward functions, r = Σ_k w_k · r_k (R1 adds its accuracy and format rewards). A function that throws on a
/// batch is asked again rollout by rollout; a rollout on which it still throws, or for which it returns a non-finite value,
/// scores 0 for that function and counts one error (<see cref="Errors"/>): training goes on.
/// </summary>
public sealed class WeightedRewards : IRewardFunction
{
    private readonly IReadOnlyList<(IRewardFunction Function, double Weight)> _terms;

    /// <summary>The terms in order; names must be distinct, weights finite.</summary>
    public WeightedRewards(IReadOnlyList<(IRewardFunction Function, double Weight)> terms)
    {
        if (terms.Count == 0) throw new ConfigException("a weighted reward needs at least one reward function");
        foreach (var (f, w) in terms)
            if (!double.IsFinite(w)) throw new ConfigException($"the weight of reward {f.Name} must be a finite number, got {w}");
        var duplicate = terms.GroupBy(t => t.Function.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ConfigException($"reward {duplicate.Key} is given twice");
        _terms = terms;
    }

    /// <summary>The names of the rule rewards <see cref="FromConfig"/> knows.</summary>
    public static readonly IReadOnlyList<string> KnownNames = ["accuracy", "format", "correctness"];

    /// <summary>The rule reward called <paramref name="name"/>: accuracy (strict tagged), format, correctness (lenient final answer).</summary>
    public static IRewardFunction ByName(string name) => name switch
    {
        "accuracy" => new AccuracyReward(),
        "format" => new FormatReward(),
        "correctness" => new CorrectnessReward(),
        _ => throw new ConfigException($"unknown reward '{name}': give one of {string.Join(", ", KnownNames)}"),
    };

    /// <summary>The weighted sum of the rule rewards named in <paramref name="weights"/> (name → weight), in the order given.</summary>
    public static WeightedRewards FromConfig(IReadOnlyDictionary<string, double> weights) =>
        new(weights.Select(kv => (ByName(kv.Key), kv.Value)).ToList());

    public string Name => string.Join("+", _terms.Select(t => t.Weight == 1 ? t.Function.Name : $"{t.Weight:G4}·{t.Function.Name}"));

    /// <summary>The reward functions' names, in order.</summary>
    public IReadOnlyList<string> Names => _terms.Select(t => t.Function.Name).ToList();

    /// <summary>Rollouts on which a function threw or returned a non-finite value, since construction.</summary>
    public long Errors { get; private set; }

    /// <summary>The message of the last error, for logs.</summary>
    public string? LastError { get; private set; }

    public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts) => ScoreTerms(rollouts).Total;

    /// <summary>The weighted totals and each function's own (unweighted) scores, by name.</summary>
    public (IReadOnlyList<double> Total, IReadOnlyDictionary<string, double[]> Terms) ScoreTerms(IReadOnlyList<Rollout> rollouts)
    {
        var total = new double[rollouts.Count];
        var terms = new Dictionary<string, double[]>();
        foreach (var (function, weight) in _terms)
        {
            var scores = Safe(function, rollouts);
            terms[function.Name] = scores;
            for (int i = 0; i < total.Length; i++) total[i] += weight * scores[i];
        }
        return (total, terms);
    }

    /// <summary>The function's scores, 0 (and an error counted) where it throws or gives a non-finite value.</summary>
    private double[] Safe(IRewardFunction function, IReadOnlyList<Rollout> rollouts)
    {
        IReadOnlyList<double>? batch = null;
        try
        {
            batch = function.Score(rollouts);
            if (batch.Count != rollouts.Count) throw new InvalidOperationException($"{batch.Count} rewards for {rollouts.Count} rollouts");
        }
        catch (Exception e) when (e is not OperationCanceledException) { batch = null; LastError = $"{function.Name}: {e.Message}"; }
        var scores = new double[rollouts.Count];
        for (int i = 0; i < scores.Length; i++)
        {
            double v;
            if (batch is not null) v = batch[i];
            else
            {
                try { v = function.Score([rollouts[i]])[0]; }
                catch (Exception e) when (e is not OperationCanceledException) { v = double.NaN; LastError = $"{function.Name}: {e.Message}"; }
            }
            if (double.IsFinite(v)) scores[i] = v;
            else { Errors++; LastError ??= $"{function.Name}: non-finite reward"; }
        }
        return scores;
    }
}

namespace SharpSeek.Data.Tasks;

/// <summary>
/// DeepSeek-R1-Zero's training template (DeepSeek-AI 2025, Table 1) and the matching completion form
/// <c>&lt;think&gt;work&lt;/think&gt; &lt;answer&gt;answer&lt;/answer&gt;</c>, for R1-Zero prompts and R1 cold-start SFT data.
/// </summary>
public static class R1Template
{
    /// <summary>The system text of Table 1, before <c>User: </c>.</summary>
    public const string Preamble =
        "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first " +
        "thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning process and " +
        "answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process " +
        "here </think> <answer> answer here </answer>.";

    /// <summary>Table 1 filled in: <c>{Preamble} User: {prompt} Assistant:</c> (the completion follows after one space).</summary>
    public static string Prompt(string prompt) => $"{Preamble} User: {prompt} Assistant:";

    /// <summary>
    /// The worked solution of <paramref name="example"/> (its completion without the final <c>####</c> line) inside think
    /// tags, then its answer inside answer tags: scores 1 under <see cref="Reward.Format"/> and <see cref="Reward.TaggedCorrectness"/>.
    /// </summary>
    public static string Completion(TaskExample example)
    {
        string work = example.Completion;
        int marker = work.LastIndexOf("####", StringComparison.Ordinal);
        if (marker >= 0) work = work[..marker];
        work = work.Trim();
        if (work.Length == 0) work = example.Prompt;                      // no worked steps: restate the question, keeping the think block non-empty
        return $"<think>\n{work}\n</think>\n<answer>{example.Answer}</answer>";
    }

    /// <summary><paramref name="example"/> with the R1-Zero template as prompt and <see cref="Completion"/> as completion.</summary>
    public static TaskExample Apply(TaskExample example) => example with { Prompt = Prompt(example.Prompt), Completion = Completion(example) };
}

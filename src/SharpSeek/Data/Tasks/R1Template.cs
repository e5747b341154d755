namespace SharpSeek.Data.Tasks;

/// <summary>
/// How a task example is laid out for training and evaluation. <see cref="Plain"/>: the question, then the worked solution
/// ending in <c>#### answer</c>. <see cref="R1"/>: the question, then <c>&lt;think&gt;work&lt;/think&gt;</c> and
/// <c>&lt;answer&gt;answer&lt;/answer&gt;</c> (<see cref="R1Template.Completion"/>) — the compact form for small models, whose
/// prompt is only the question. <see cref="R1Table1"/>: the same completion after DeepSeek-R1-Zero's Table 1 prompt
/// (<see cref="R1Template.Prompt"/>, about 400 bytes of instructions).
/// </summary>
public enum TaskTemplate { Plain, R1, R1Table1 }

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

    /// <summary><paramref name="example"/> laid out as <paramref name="template"/> says (unchanged for <see cref="TaskTemplate.Plain"/>).</summary>
    public static TaskExample Apply(TaskExample example, TaskTemplate template) => template switch
    {
        TaskTemplate.Plain => example,
        TaskTemplate.R1 => example with { Completion = Completion(example) },
        TaskTemplate.R1Table1 => Apply(example),
        _ => throw new ArgumentOutOfRangeException(nameof(template)),
    };

    /// <summary>"plain", "r1" or "r1-table1"; throws <see cref="ConfigException"/> for anything else.</summary>
    public static TaskTemplate ParseTemplate(string name) => name switch
    {
        "plain" => TaskTemplate.Plain,
        "r1" => TaskTemplate.R1,
        "r1-table1" => TaskTemplate.R1Table1,
        _ => throw new ConfigException($"--template must be plain, r1 or r1-table1, not '{name}'"),
    };

    /// <summary>The name <see cref="ParseTemplate"/> reads.</summary>
    public static string Name(TaskTemplate template) => template switch
    {
        TaskTemplate.Plain => "plain",
        TaskTemplate.R1 => "r1",
        _ => "r1-table1",
    };
}

namespace SharpSeek.Data.Tasks;

/// <summary>
/// One verifiable task: the <paramref name="Prompt"/> shown to the model, the canonical final <paramref name="Answer"/>
/// (checked by <see cref="AnswerChecker"/>), and a worked <paramref name="Completion"/> ending in GSM8K's final-answer
/// line <c>#### &lt;answer&gt;</c> (Cobbe et al. 2021), usable as an SFT target.
/// </summary>
public sealed record TaskExample(string Prompt, string Answer, string Completion);

using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Data.Preference;

/// <summary>
/// One preference judgement (Ouyang et al. 2022, §3.5; Rafailov et al. 2023): a prompt (the conversation before the answer)
/// and two assistant answers, the <paramref name="Chosen"/> one preferred to the <paramref name="Rejected"/> one;
/// <paramref name="Source"/> is "file:line", for errors.
/// </summary>
public sealed record PreferencePair(IReadOnlyList<ChatMessage> Prompt, string Chosen, string Rejected, string Source);

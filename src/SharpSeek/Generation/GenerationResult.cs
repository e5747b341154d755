namespace SharpSeek.Generation;

/// <summary>Why a sequence stopped growing (OpenAI/vLLM <c>finish_reason</c>).</summary>
public enum FinishReason
{
    /// <summary>max_new_tokens reached.</summary>
    Length,
    /// <summary>An end-of-sequence token was generated (it is not part of the result).</summary>
    EndOfSequence,
    /// <summary>A stop string appeared in the text (it is cut from the text).</summary>
    StopString,
}

/// <summary>
/// One generated sequence. <see cref="TokenIds"/>: generated ids (prompt and EOS excluded; with a stop string, up to the token
/// that completed it). <see cref="Text"/>: their text, cut before the stop string. <see cref="Score"/>: beam score (beam search only).
/// </summary>
public sealed record GenerationResult(int PromptIndex, IReadOnlyList<int> TokenIds, string Text, FinishReason FinishReason, double? Score = null);

/// <summary>
/// One decode step of a streamed completion: <see cref="Text"/> released by the step (may be empty), <see cref="TokenCount"/>
/// tokens generated so far (EOS excluded), and <see cref="FinishReason"/> on the last update only.
/// </summary>
public sealed record GenerationUpdate(string Text, int TokenCount, FinishReason? FinishReason);

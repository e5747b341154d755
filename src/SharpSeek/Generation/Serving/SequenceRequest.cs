using System.Threading.Channels;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Generation.Serving;

/// <summary>
/// One sequence to generate in a <see cref="ContinuousBatcher"/>, with its own sampling settings (OpenAI's request
/// parameters: temperature 0 = greedy; presence/frequency penalties over the tokens generated so far).
/// </summary>
public sealed record SequenceRequest(IReadOnlyList<int> PromptIds)
{
    /// <summary>Most tokens generated (prompt excluded).</summary>
    public int MaxNewTokens { get; init; } = 16;

    /// <summary>Divides logits before sampling; 0 = greedy (argmax).</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Nucleus sampling mass in (0, 1]; 1 is off.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Keep the k most likely tokens when sampling; 0 is off (OpenAI has no top-k).</summary>
    public int TopK { get; init; }

    /// <summary>OpenAI presence penalty in [−2, 2]: subtracted once from every token already generated.</summary>
    public double PresencePenalty { get; init; }

    /// <summary>OpenAI frequency penalty in [−2, 2]: subtracted per occurrence of a token already generated.</summary>
    public double FrequencyPenalty { get; init; }

    /// <summary>Generation stops when the text contains one of these; the stop string is cut from the text.</summary>
    public IReadOnlyList<string>? StopStrings { get; init; }

    /// <summary>End-of-sequence ids (not part of the output); null = the tokenizer's EOS.</summary>
    public IReadOnlyList<int>? EosIds { get; init; }

    /// <summary>Seed of this sequence's sampling generator; null draws one at random.</summary>
    public long? Seed { get; init; }

    /// <summary>Log-probabilities to report per generated token: null = none, 0 = the chosen token's, k = also the k most likely.</summary>
    public int? TopLogprobs { get; init; }

    /// <summary>True when the next token is the argmax.</summary>
    public bool IsGreedy => Temperature == 0;

    /// <summary>Throws <see cref="GenerationException"/> naming the first invalid value.</summary>
    public void Validate(int vocabSize, int capacity)
    {
        if (PromptIds.Count == 0) throw new GenerationException("the prompt has no tokens");
        foreach (int id in PromptIds)
            if (id < 0 || id >= vocabSize) throw new GenerationException($"the prompt has token id {id}, outside the model's vocabulary (0..{vocabSize - 1})");
        if (MaxNewTokens < 1) throw new GenerationException($"max_tokens ({MaxNewTokens}) must be at least 1");
        if (PromptIds.Count + MaxNewTokens > capacity)
            throw new GenerationException($"the prompt ({PromptIds.Count} tokens) plus max_tokens ({MaxNewTokens}) exceeds the context ({capacity} tokens)");
        if (!double.IsFinite(Temperature) || Temperature < 0) throw new GenerationException($"temperature ({Temperature}) must be a finite number ≥ 0");
        if (!(TopP > 0 && TopP <= 1)) throw new GenerationException($"top_p ({TopP}) must be in (0, 1]");
        if (TopK < 0) throw new GenerationException($"top_k ({TopK}) must be ≥ 0");
        if (!(PresencePenalty >= -2 && PresencePenalty <= 2)) throw new GenerationException($"presence_penalty ({PresencePenalty}) must be in [-2, 2]");
        if (!(FrequencyPenalty >= -2 && FrequencyPenalty <= 2)) throw new GenerationException($"frequency_penalty ({FrequencyPenalty}) must be in [-2, 2]");
        if (StopStrings is { } stops && stops.Any(string.IsNullOrEmpty)) throw new GenerationException("stop strings must not be empty");
        if (Seed is < 0) throw new GenerationException($"seed ({Seed}) must be ≥ 0");
        if (TopLogprobs is < 0 or > 20) throw new GenerationException($"top_logprobs ({TopLogprobs}) must be in [0, 20]");
    }
}

/// <summary>A token's log-probability under the model (log-softmax of the raw logits, before temperature and penalties).</summary>
public sealed record TokenLogprob(int TokenId, double Logprob);

/// <summary>
/// What one decode step produced for a sequence: <see cref="Text"/> is the newly complete text (possibly empty: held back
/// while it may be a split character or the start of a stop string); <see cref="Token"/> is the generated token (null for
/// the end-of-sequence token, which is not part of the output), with <see cref="TopLogprobs"/> when asked for.
/// </summary>
public sealed record SequenceDelta(string Text, TokenLogprob? Token, IReadOnlyList<TokenLogprob>? TopLogprobs);

/// <summary>
/// A finished sequence: generated ids (EOS excluded), the text (cut before a stop string), why it stopped, token counts,
/// and the per-token log-probabilities when asked for.
/// </summary>
public sealed record SequenceResult(IReadOnlyList<int> TokenIds, string Text, FinishReason FinishReason, int PromptTokens, int CompletionTokens,
                                    IReadOnlyList<SequenceDelta> Logprobs);

/// <summary>
/// The caller's side of a submitted sequence: its deltas as they are generated (<see cref="Deltas"/>, completed when the
/// sequence ends, with the exception if it failed or was cancelled) and its result (<see cref="Completion"/>).
/// </summary>
public sealed class BatchedSequence
{
    private readonly Channel<SequenceDelta> _channel = Channel.CreateUnbounded<SequenceDelta>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly TaskCompletionSource<SequenceResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal BatchedSequence(SequenceRequest request, CancellationToken cancellationToken)
    {
        Request = request;
        CancellationToken = cancellationToken;
    }

    public SequenceRequest Request { get; }

    /// <summary>The deltas in order; reading past the end throws the sequence's failure (OperationCanceledException when cancelled).</summary>
    public ChannelReader<SequenceDelta> Deltas => _channel.Reader;

    /// <summary>The finished sequence; faults or cancels as the sequence does.</summary>
    public Task<SequenceResult> Completion => _completion.Task;

    internal CancellationToken CancellationToken { get; }

    /// <summary>The callback that wakes the decode thread on cancellation; disposed when the sequence leaves the batch.</summary>
    internal CancellationTokenRegistration Registration { get; set; }

    internal bool CancelRequested => CancellationToken.IsCancellationRequested;

    internal void Emit(SequenceDelta delta) => _channel.Writer.TryWrite(delta);

    internal void Complete(SequenceResult result)
    {
        _channel.Writer.TryComplete();
        _completion.TrySetResult(result);
    }

    internal void Fail(Exception error)
    {
        _channel.Writer.TryComplete(error);
        if (error is OperationCanceledException) _completion.TrySetCanceled(CancellationToken.IsCancellationRequested ? CancellationToken : new CancellationToken(true));
        else _completion.TrySetException(error);
    }
}

/// <summary>OpenAI's presence and frequency penalties (API reference, "Parameter details"): logits − c·α_freq − [c &gt; 0]·α_pres.</summary>
public static class RepetitionPenalties
{
    /// <summary>
    /// Scores (V) after the penalties for the tokens generated so far (<paramref name="generated"/>): each token j loses
    /// count(j)·<paramref name="frequency"/> + (count(j) &gt; 0)·<paramref name="presence"/>. The input is not modified.
    /// </summary>
    public static Tensor Apply(Tensor logits, IReadOnlyList<int> generated, double presence, double frequency)   // logits: (V)
    {
        if (generated.Count == 0 || (presence == 0 && frequency == 0)) return logits.alias();
        using var scope = torch.NewDisposeScope();
        var ids = torch.tensor(generated.Select(i => (long)i).ToArray(), device: logits.device);                  // (N)
        var counts = torch.zeros(logits.shape[^1], logits.dtype, logits.device)
                          .scatter_add(0, ids, torch.ones(generated.Count, logits.dtype, logits.device));        // (V)
        var penalty = counts * frequency + counts.gt(0).to(logits.dtype) * presence;                             // (V)
        return (logits - penalty).MoveToOuterDisposeScope();
    }
}

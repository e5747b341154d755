using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Generation;

/// <summary>
/// Decoding controls, named and defaulted as Hugging Face <c>GenerationConfig</c> (transformers generation/configuration_utils.py).
/// Additions: <c>stop_strings</c> (text-level stops), <c>seed</c>, <c>truncate_prompt</c>. A temperature of 0 means greedy.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens generated per sequence (prompt excluded).</summary>
    [JsonPropertyName("max_new_tokens")] public int MaxNewTokens { get; init; } = 20;

    /// <summary>Sample from the processed distribution; false = greedy (argmax) or beam search.</summary>
    [JsonPropertyName("do_sample")] public bool DoSample { get; init; }

    /// <summary>Divides logits before sampling; 0 means greedy, 1 is off.</summary>
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = 1.0;

    /// <summary>Sampling keeps the k most likely tokens (ties with the k-th kept); 0 is off.</summary>
    [JsonPropertyName("top_k")] public int TopK { get; init; } = 50;

    /// <summary>Nucleus sampling: the smallest set of tokens with cumulative probability ≥ p (at least one); 1 is off.</summary>
    [JsonPropertyName("top_p")] public double TopP { get; init; } = 1.0;

    /// <summary>Sampling drops tokens with probability below min_p × the top probability; 0 is off.</summary>
    [JsonPropertyName("min_p")] public double MinP { get; init; }

    /// <summary>CTRL repetition penalty for tokens already in the row (prompt included); 1 is off.</summary>
    [JsonPropertyName("repetition_penalty")] public double RepetitionPenalty { get; init; } = 1.0;

    /// <summary>OpenAI presence penalty: subtracted from the logit of every token generated at least once; 0 is off.</summary>
    [JsonPropertyName("presence_penalty")] public double PresencePenalty { get; init; }

    /// <summary>OpenAI frequency penalty: subtracted from a token's logit once per time it was generated; 0 is off.</summary>
    [JsonPropertyName("frequency_penalty")] public double FrequencyPenalty { get; init; }

    /// <summary>No n-gram of this size occurs twice in a row (prompt included); 0 is off.</summary>
    [JsonPropertyName("no_repeat_ngram_size")] public int NoRepeatNgramSize { get; init; }

    /// <summary>Sequences returned per prompt (independent samples, or the best beams).</summary>
    [JsonPropertyName("num_return_sequences")] public int NumReturnSequences { get; init; } = 1;

    /// <summary>Beam search width; 1 is greedy/sampling.</summary>
    [JsonPropertyName("num_beams")] public int NumBeams { get; init; } = 1;

    /// <summary>Beam scores are sum log-prob / generated_length^length_penalty (&gt; 0 favours longer sequences).</summary>
    [JsonPropertyName("length_penalty")] public double LengthPenalty { get; init; } = 1.0;

    /// <summary>Beam search stops a prompt as soon as num_beams finished candidates exist (else when none can improve).</summary>
    [JsonPropertyName("early_stopping")] public bool EarlyStopping { get; init; }

    /// <summary>End-of-sequence ids; null uses the tokenizer's EOS, an empty list never stops on a token.</summary>
    [JsonPropertyName("eos_token_id"), JsonConverter(typeof(IntOrIntListConverter))]
    public IReadOnlyList<int>? EosTokenId { get; init; }

    /// <summary>Generation of a row stops when its text contains one of these; the stop string is cut from the output.</summary>
    [JsonPropertyName("stop_strings")] public IReadOnlyList<string>? StopStrings { get; init; }

    /// <summary>Seed of the sampling generator; null draws one at random. Same seed, prompts and options → same text.</summary>
    [JsonPropertyName("seed")] public long? Seed { get; init; }

    /// <summary>Keep only the last tokens of a prompt that does not fit the context with max_new_tokens, instead of failing.</summary>
    [JsonPropertyName("truncate_prompt")] public bool TruncatePrompt { get; init; }

    /// <summary>Reuse keys/values of earlier tokens (prefill once, then one token per step); false recomputes the whole sequence.</summary>
    [JsonPropertyName("use_cache")] public bool UseCache { get; init; } = true;

    /// <summary>
    /// Generate past the model's context as nanoGPT does, by cropping: when prompt + new tokens would not fit, decoding
    /// runs in rounds, each conditioned on the last tokens that fit (at least half the context). Greedy/sampling only.
    /// </summary>
    [JsonPropertyName("sliding_window")] public bool SlidingWindow { get; init; }

    /// <summary>True when decoding picks the argmax (no sampling).</summary>
    [JsonIgnore] public bool IsGreedy => !DoSample || Temperature == 0;

    /// <summary>Throws <see cref="GenerationException"/> naming the first invalid value.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 1) throw new GenerationException($"max_new_tokens ({MaxNewTokens}) must be at least 1");
        if (!double.IsFinite(Temperature) || Temperature < 0) throw new GenerationException($"temperature ({Temperature}) must be a finite number ≥ 0");
        if (TopK < 0) throw new GenerationException($"top_k ({TopK}) must be ≥ 0 (0 turns it off)");
        if (!(TopP > 0 && TopP <= 1)) throw new GenerationException($"top_p ({TopP}) must be in (0, 1]");
        if (!(MinP >= 0 && MinP <= 1)) throw new GenerationException($"min_p ({MinP}) must be in [0, 1]");
        if (!(RepetitionPenalty > 0) || !double.IsFinite(RepetitionPenalty))
            throw new GenerationException($"repetition_penalty ({RepetitionPenalty}) must be a finite number > 0");
        if (!double.IsFinite(PresencePenalty)) throw new GenerationException($"presence_penalty ({PresencePenalty}) must be a finite number");
        if (!double.IsFinite(FrequencyPenalty)) throw new GenerationException($"frequency_penalty ({FrequencyPenalty}) must be a finite number");
        if (NoRepeatNgramSize < 0) throw new GenerationException($"no_repeat_ngram_size ({NoRepeatNgramSize}) must be ≥ 0 (0 turns it off)");
        if (NumReturnSequences < 1) throw new GenerationException($"num_return_sequences ({NumReturnSequences}) must be at least 1");
        if (NumBeams < 1) throw new GenerationException($"num_beams ({NumBeams}) must be at least 1");
        if (!double.IsFinite(LengthPenalty)) throw new GenerationException($"length_penalty ({LengthPenalty}) must be a finite number");
        if (NumBeams > 1 && NumReturnSequences > NumBeams)
            throw new GenerationException($"num_return_sequences ({NumReturnSequences}) must not exceed num_beams ({NumBeams})");
        if (NumBeams > 1 && DoSample && Temperature != 0)
            throw new GenerationException($"do_sample with num_beams ({NumBeams}) > 1 (beam sampling) is not supported; use one or the other");
        foreach (int id in EosTokenId ?? [])
            if (id < 0) throw new GenerationException($"eos_token_id ({id}) must be ≥ 0");
        if (StopStrings is { } stops && stops.Any(string.IsNullOrEmpty))
            throw new GenerationException("stop_strings must not contain an empty string");
        if (Seed is < 0) throw new GenerationException($"seed ({Seed}) must be ≥ 0");
    }

    /// <summary>
    /// Prompt tokens to keep so that prompt + max_new_tokens fits <paramref name="contextLength"/>: all of them, or with
    /// <see cref="TruncatePrompt"/> the last ones; otherwise throws <see cref="GenerationException"/>.
    /// </summary>
    public int PromptTokensToKeep(int promptLength, int contextLength)
    {
        if (SlidingWindow) return Math.Min(promptLength, contextLength / 2);
        if (MaxNewTokens >= contextLength)
            throw new GenerationException($"max_new_tokens ({MaxNewTokens}) leaves no room for a prompt in the model's context ({contextLength} tokens)");
        if (promptLength + MaxNewTokens <= contextLength) return promptLength;
        if (TruncatePrompt) return contextLength - MaxNewTokens;
        throw new GenerationException(
            $"prompt ({promptLength} tokens) plus max_new_tokens ({MaxNewTokens}) exceeds the model's context ({contextLength} tokens); shorten it or ask for truncation");
    }
}

/// <summary>Reads Hugging Face's <c>eos_token_id</c>, which is a number or a list of numbers; writes a list.</summary>
internal sealed class IntOrIntListConverter : JsonConverter<IReadOnlyList<int>?>
{
    public override IReadOnlyList<int>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType == JsonTokenType.Number) return new[] { reader.GetInt32() };
        return JsonSerializer.Deserialize<int[]>(ref reader, options);
    }

    public override void Write(Utf8JsonWriter writer, IReadOnlyList<int>? value, JsonSerializerOptions options)
    {
        if (value is null) { writer.WriteNullValue(); return; }
        JsonSerializer.Serialize(writer, value.ToArray(), options);
    }
}

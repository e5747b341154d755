using System.Runtime.CompilerServices;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;

namespace SharpSeek.Generation;

/// <summary>
/// Text generation over any <see cref="CausalLM"/>: greedy, sampling (seeded) and beam search with a KV cache, batched prompts
/// of different lengths (left padding + attention mask), EOS and text-level stop strings, and streaming. Hugging Face
/// <c>GenerationMixin.generate</c> semantics (transformers generation/utils.py).
/// </summary>
public sealed class Generator(CausalLM model, ITextTokenizer tokenizer)
{
    /// <summary>Generates for each prompt; results are grouped by prompt (num_return_sequences each), in prompt order.</summary>
    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<string> prompts, GenerationOptions options)
    {
        options.Validate();
        return Generate(prompts.Select((p, i) => Encode(p, i)).ToList(), options);
    }

    /// <summary>Generates from token-id prompts; results are grouped by prompt (num_return_sequences each), in prompt order.</summary>
    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<IReadOnlyList<int>> promptIds, GenerationOptions options)
    {
        options.Validate();
        if (options.SlidingWindow && promptIds.Any(p => p.Count + options.MaxNewTokens > model.MaxSequenceLength))
            return SlidingWindow(promptIds, options);
        var prompts = GenerationSetup.Prompts(promptIds, options, model);
        if (options.NumBeams > 1) return BeamSearch.Run(model, tokenizer, prompts, options);
        using var loop = new DecodeLoop(model, tokenizer, prompts, options);
        while (loop.Step()) { }
        return loop.Results();
    }

    /// <summary>
    /// Streams the text of one completion as it is generated: deltas never split a character and never contain (part of) a
    /// stop string. Cancelling <paramref name="cancellationToken"/> stops before the next token.
    /// </summary>
    public async IAsyncEnumerable<string> StreamAsync(string prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options.Validate();
        await foreach (var update in StreamUpdatesAsync(Encode(prompt, 0), options, cancellationToken))
            if (update.Text.Length > 0) yield return update.Text;
    }

    /// <summary>
    /// Streams one completion of the token-id prompt <paramref name="promptIds"/>, one update per decode step: the text that step
    /// released (empty while a character or a possible stop string is incomplete), the tokens generated so far and, on the last
    /// update, the finish reason. Cancelling <paramref name="cancellationToken"/> stops before the next token.
    /// </summary>
    public async IAsyncEnumerable<GenerationUpdate> StreamUpdatesAsync(IReadOnlyList<int> promptIds, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (options.NumBeams > 1 || options.NumReturnSequences > 1)
            throw new GenerationException("streaming produces one sequence: num_beams and num_return_sequences must be 1");
        var prompts = GenerationSetup.Prompts([promptIds], options, model);
        cancellationToken.ThrowIfCancellationRequested();
        using var loop = new DecodeLoop(model, tokenizer, prompts, options);
        bool running = true;
        while (running)
        {
            cancellationToken.ThrowIfCancellationRequested();
            running = loop.Step();
            var row = loop.Results()[0];
            yield return new GenerationUpdate(loop.TakeText(0), row.TokenIds.Count, running ? null : row.FinishReason);
        }
        await Task.CompletedTask;
    }

    /// <summary>
    /// Generation longer than the context: per prompt and returned sequence, rounds of at most half the context, each
    /// conditioned on the last tokens that fit (nanoGPT crops the same way). The text is decoded once at the end.
    /// </summary>
    private IReadOnlyList<GenerationResult> SlidingWindow(IReadOnlyList<IReadOnlyList<int>> promptIds, GenerationOptions options)
    {
        if (options.NumBeams > 1) throw new GenerationException("sliding_window works with greedy decoding and sampling, not beam search");
        int context = model.MaxSequenceLength, chunk = Math.Max(1, context / 2);
        var results = new List<GenerationResult>();
        for (int p = 0; p < promptIds.Count; p++)
        {
            for (int r = 0; r < options.NumReturnSequences; r++)
            {
                var sequence = promptIds[p].ToList();
                var generated = new List<int>();
                var finish = FinishReason.Length;
                for (int round = 0; generated.Count < options.MaxNewTokens; round++)
                {
                    int n = Math.Min(chunk, options.MaxNewTokens - generated.Count);
                    var window = sequence.Skip(Math.Max(0, sequence.Count - (context - n))).ToArray();
                    var roundOptions = options with
                    {
                        MaxNewTokens = n, NumReturnSequences = 1, SlidingWindow = false,
                        Seed = options.Seed is long s ? s + 7919L * round + r : null,
                    };
                    var result = Generate([window], roundOptions)[0];
                    generated.AddRange(result.TokenIds);
                    sequence.AddRange(result.TokenIds);
                    finish = result.FinishReason;
                    if (finish != FinishReason.Length) break;
                }
                string text = tokenizer.Decode(generated);
                if (finish == FinishReason.StopString)
                {
                    int cut = options.StopStrings!.Select(stop => text.IndexOf(stop, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(text.Length).Min();
                    text = text[..cut];
                }
                results.Add(new GenerationResult(p, generated, text, finish));
            }
        }
        return results;
    }

    private IReadOnlyList<int> Encode(string prompt, int index)
    {
        var ids = tokenizer.Encode(prompt);
        if (ids.Count > 0) return ids;
        if (tokenizer.BosId is int bos) return [bos];
        throw new GenerationException($"prompt {index} is empty and the tokenizer has no BOS token to start from");
    }
}

/// <summary>Checks and preparation shared by the decoding loops.</summary>
internal static class GenerationSetup
{
    /// <summary>Validated prompts, truncated from the left when asked so prompt + max_new_tokens fits the context.</summary>
    public static IReadOnlyList<IReadOnlyList<int>> Prompts(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options, CausalLM model)
    {
        if (prompts.Count == 0) throw new GenerationException("no prompt given");
        var result = new List<IReadOnlyList<int>>(prompts.Count);
        for (int i = 0; i < prompts.Count; i++)
        {
            var p = prompts[i];
            if (p.Count == 0) throw new GenerationException($"prompt {i} has no tokens");
            foreach (int id in p)
                if (id < 0 || id >= model.VocabSize)
                    throw new GenerationException($"prompt {i} has token id {id}, outside the model's vocabulary (0..{model.VocabSize - 1})");
            int keep = options.PromptTokensToKeep(p.Count, model.MaxSequenceLength);
            result.Add(keep == p.Count ? p : p.Skip(p.Count - keep).ToArray());
        }
        foreach (int id in options.EosTokenId ?? [])
            if (id >= model.VocabSize) throw new GenerationException($"eos_token_id ({id}) is outside the model's vocabulary (0..{model.VocabSize - 1})");
        return result;
    }

    /// <summary>The tokenizer's size when the model's (padded) vocabulary is larger, else null.</summary>
    public static int? VocabularyLimit(CausalLM model, ITextTokenizer tokenizer) =>
        tokenizer.VocabSize < model.VocabSize ? tokenizer.VocabSize : null;

    public static HashSet<int> EosIds(GenerationOptions options, ITextTokenizer tokenizer) =>
        options.EosTokenId is { } ids ? ids.ToHashSet() : tokenizer.EosId is int eos ? [eos] : [];
}

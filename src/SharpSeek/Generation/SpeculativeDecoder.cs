using System.Diagnostics;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Generation;

/// <summary>Outcome of one speculative (or plain greedy) decode: the new tokens and how many drafts the main model accepted.</summary>
public sealed record SpeculativeResult(IReadOnlyList<int> Tokens, int Proposed, int Accepted, int MainForwards, TimeSpan Elapsed)
{
    /// <summary>Accepted / proposed draft tokens (0 when nothing was proposed).</summary>
    public double AcceptanceRate => Proposed == 0 ? 0 : (double)Accepted / Proposed;

    /// <summary>New tokens per main-model forward after the prompt (1 for plain greedy decoding).</summary>
    public double TokensPerMainForward => MainForwards <= 1 ? Tokens.Count : (double)(Tokens.Count - 1) / (MainForwards - 1);

    public double TokensPerSecond => Tokens.Count / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>
/// Self-speculative greedy decoding with DeepSeek-V3's multi-token-prediction module (DeepSeek-V3 §2.2 and §5.4.3;
/// verification as in Leviathan et al. 2023 / Stern et al. 2018 blockwise decoding): the depth-1 MTP module, chained on
/// its own states, drafts k tokens; the main model scores the last accepted token and the k drafts in one cached
/// forward; the longest prefix of drafts equal to the main model's argmax is kept plus the main model's own next token,
/// and the rejected tail is cut from both KV caches. The output equals plain greedy decoding of the main model.
/// </summary>
public sealed class SpeculativeDecoder
{
    private readonly CausalLM _model;
    private readonly IMultiTokenPredictor _mtp;

    /// <summary>Draft tokens proposed per verification step (k).</summary>
    public int DraftTokens { get; }

    /// <summary>Drafts with the MTP modules of <paramref name="model"/>, which must implement <see cref="IMultiTokenPredictor"/>.</summary>
    public SpeculativeDecoder(CausalLM model, int draftTokens = 2)
    {
        if (model is not IMultiTokenPredictor { MtpDepth: >= 1 } mtp)
            throw new GenerationException("self-speculative decoding needs a model with an MTP module (num_nextn_predict_layers ≥ 1)");
        if (draftTokens < 1) throw new GenerationException($"draft tokens must be at least 1, got {draftTokens}");
        _model = model; _mtp = mtp; DraftTokens = draftTokens;
    }

    /// <summary>Greedy continuation of <paramref name="prompt"/> by up to <paramref name="maxNewTokens"/> tokens, stopping after <paramref name="eosTokenId"/>.</summary>
    public SpeculativeResult Generate(IReadOnlyList<int> prompt, int maxNewTokens, int? eosTokenId = null)
    {
        Check(_model, prompt, maxNewTokens);
        var clock = Stopwatch.StartNew();
        _model.eval();
        using var _ = torch.no_grad();
        int capacity = prompt.Count + maxNewTokens + DraftTokens + 1;
        using var cache = _model.CreateKvCache(1, capacity);
        using var mtpCache = _mtp.CreateMtpKvCache(1, capacity);
        var output = new List<int>();
        int proposed = 0, accepted = 0, forwards = 1;

        // Prefill: the main model over the prompt gives its next token and the states the MTP module starts from.
        Tensor hidden, draftState, draftLogits;
        using (var scope = torch.NewDisposeScope())
        {
            using var ids = Ids(prompt);
            var (h, logits) = MainForward(ids, cache);                                     // (1, P, D), (1, P, V)
            int next = Argmax(logits, -1);
            output.Add(next);
            (draftState, draftLogits) = Catch(ids.narrow(1, 1, prompt.Count - 1), next, h, mtpCache);
            hidden = h;
            draftState.MoveToOuterDisposeScope(); draftLogits.MoveToOuterDisposeScope();
        }
        hidden.Dispose();

        while (output.Count < maxNewTokens && output[^1] != eosTokenId)
        {
            using var scope = torch.NewDisposeScope();
            int k = Math.Min(DraftTokens, maxNewTokens - output.Count - 1);
            // Draft: MTP depth 1, chained on its own states (it predicts the token after the one it is given).
            var drafts = new List<int>();
            if (k > 0)
            {
                drafts.Add(Argmax(draftLogits, -1));
                var state = draftState.narrow(1, draftState.shape[1] - 1, 1);             // (1, 1, D)
                while (drafts.Count < k)
                {
                    using var d = Ids([drafts[^1]]);
                    var (s, l) = _mtp.MtpForward(0, d, state, mtpCache);                  // (1, 1, D), (1, 1, V)
                    state = s;
                    drafts.Add(Argmax(l, -1));
                }
            }
            // Verify: the last accepted token and the drafts in one main forward.
            int cached = cache.Length;
            using var verifyIds = Ids([output[^1], .. drafts]);
            var (h, logits) = MainForward(verifyIds, cache);                               // (1, k+1, D), (1, k+1, V)
            forwards++;
            var best = logits.argmax(-1).view(-1).data<long>().Select(v => (int)v).ToArray();   // (k+1)
            int n = 0;
            while (n < drafts.Count && drafts[n] == best[n]) n++;
            proposed += drafts.Count; accepted += n;
            var fresh = drafts.Take(n).Append(best[n]).ToList();
            cache.Truncate(cached + n + 1);
            mtpCache.Truncate(cached);
            // Re-sync the MTP cache with the main states of the kept positions; its last output drafts the next round.
            using var nextIds = Ids(fresh);
            var (ds, dl) = _mtp.MtpForward(0, nextIds, h.narrow(1, 0, n + 1), mtpCache);   // (1, n+1, D), (1, n+1, V)
            draftState.Dispose(); draftLogits.Dispose();
            draftState = ds.MoveToOuterDisposeScope(); draftLogits = dl.MoveToOuterDisposeScope();
            foreach (var token in fresh)
            {
                if (output.Count >= maxNewTokens) break;
                output.Add(token);
                if (token == eosTokenId) break;
            }
        }
        draftState.Dispose(); draftLogits.Dispose();
        return new SpeculativeResult(output, proposed, accepted, forwards, clock.Elapsed);
    }

    /// <summary>Plain cached greedy decoding of the main model, one token per forward: the reference and the speed baseline.</summary>
    public static SpeculativeResult Greedy(CausalLM model, IReadOnlyList<int> prompt, int maxNewTokens, int? eosTokenId = null)
    {
        Check(model, prompt, maxNewTokens);
        var clock = Stopwatch.StartNew();
        model.eval();
        using var _ = torch.no_grad();
        using var cache = model.CreateKvCache(1, prompt.Count + maxNewTokens);
        var output = new List<int>();
        int forwards = 0;
        var input = prompt;
        while (output.Count < maxNewTokens && (output.Count == 0 || output[^1] != eosTokenId))
        {
            using var scope = torch.NewDisposeScope();
            using var ids = Ids(input);
            var logits = model.Logits(ids, cache);                                          // (1, T, V)
            forwards++;
            output.Add(Argmax(logits, -1));
            input = [output[^1]];
        }
        return new SpeculativeResult(output, 0, 0, forwards, clock.Elapsed);
    }

    // MTP over positions 0..P-1 of the prompt: module input at i is (token i+1, main state i); the last one uses the main model's next token.
    private (Tensor State, Tensor Logits) Catch(Tensor shiftedPrompt, int next, Tensor mainHidden, KvCache mtpCache)
    {
        using var scope = torch.NewDisposeScope();
        using var nextId = Ids([next]);
        var ids = torch.cat([shiftedPrompt, nextId], 1);                                   // (1, P)
        var (s, l) = _mtp.MtpForward(0, ids, mainHidden, mtpCache);                        // (1, P, D), (1, P, V)
        return (s.MoveToOuterDisposeScope(), l.MoveToOuterDisposeScope());
    }

    private static void Check(CausalLM model, IReadOnlyList<int> prompt, int maxNewTokens)
    {
        if (prompt.Count == 0) throw new GenerationException("the prompt is empty; speculative decoding needs at least one token");
        if (maxNewTokens < 1) throw new GenerationException($"max_new_tokens must be at least 1, got {maxNewTokens}");
        if (prompt.Count + maxNewTokens > model.MaxSequenceLength)
            throw new GenerationException($"prompt ({prompt.Count}) + max_new_tokens ({maxNewTokens}) exceed the model's {model.MaxSequenceLength} positions");
    }

    /// <summary>Main-model forward after the cached tokens: the residual stream (1, T, D) the MTP module starts from, and logits (1, T, V).</summary>
    private (Tensor Hidden, Tensor Logits) MainForward(Tensor ids, KvCache cache)
    {
        using var output = _model.call(new CausalLMInput(ids) { Cache = cache, OutputHiddenStates = true });
        return (output.ResidualState!.alias(), output.TakeLogits());
    }

    private static Tensor Ids(IReadOnlyList<int> tokens) => torch.tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Count]);   // (1, T)

    private static int Argmax(Tensor logits, int position) =>
        (int)logits[0, position < 0 ? logits.shape[1] + position : position].argmax().item<long>();
}

using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using TorchSharp;

namespace SharpSeek.Evaluation.Suite;

/// <summary>Log-likelihood scoring of multiple-choice continuations (as lm-evaluation-harness's loglikelihood requests).</summary>
public static class LogLikelihood
{
    /// <summary>
    /// Σ log p(choice tokens | context) for each choice of <paramref name="item"/>: context and choice encoded separately and
    /// joined; the context is cut from the left when the pair does not fit the model's context.
    /// </summary>
    public static IReadOnlyList<double> Choices(CausalLM model, ITextTokenizer tokenizer, ChoiceItem item)
    {
        var context = tokenizer.Encode(item.Context);
        return item.Choices.Select(c => Continuation(model, context, tokenizer.Encode(c))).ToList();
    }

    /// <summary>Σ_i log p(<paramref name="continuation"/>[i] | context, continuation[..i]) in one forward.</summary>
    public static double Continuation(CausalLM model, IReadOnlyList<int> context, IReadOnlyList<int> continuation)
    {
        if (continuation.Count == 0) return 0;
        if (continuation.Count >= model.MaxSequenceLength) throw new DataException($"a choice of {continuation.Count} tokens does not fit the model's context of {model.MaxSequenceLength}");
        int keep = Math.Min(context.Count, model.MaxSequenceLength - continuation.Count);
        if (keep == 0) throw new DataException("multiple-choice items need a non-empty context");
        var ids = context.Skip(context.Count - keep).Concat(continuation).Select(i => (long)i).ToArray();
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var x = torch.tensor(ids, device: model.Device).unsqueeze(0);                         // (1, T)
        using var output = model.call(new CausalLMInput(x));
        var logp = output.Logits!.to(torch.ScalarType.Float32)[0].log_softmax(-1);           // (T, V)
        int n = continuation.Count, t = ids.Length;
        var rows = logp.narrow(0, t - n - 1, n);                                              // (n, V): positions predicting the continuation
        var target = torch.tensor(continuation.Select(i => (long)i).ToArray(), device: model.Device).unsqueeze(1);   // (n, 1)
        return rows.gather(1, target).sum().item<float>();
    }
}

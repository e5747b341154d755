using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.DeepSeek;

/// <summary>Greedy decoding helpers for the tests: full recompute (as the reference) and KV-cached.</summary>
internal static class DeepSeekGreedy
{
    public static long[] Uncached(CausalLM model, long[] prompt, int n)
    {
        var seq = prompt.ToList();
        using var _ = torch.no_grad();
        for (int i = 0; i < n; i++)
        {
            using var scope = torch.NewDisposeScope();
            var logits = model.Logits(torch.tensor(seq.ToArray()).view(1, -1));          // (1, T, V)
            seq.Add(logits[0, -1].argmax().item<long>());
        }
        return seq.Skip(prompt.Length).ToArray();
    }

    /// <summary>Full recompute for equal-length prompts, all rows in one forward per step (rows never interact).</summary>
    public static long[][] UncachedBatch(CausalLM model, long[][] prompts, int n)
    {
        int b = prompts.Length;
        var seqs = prompts.Select(p => p.ToList()).ToArray();
        if (seqs.Any(s => s.Count != seqs[0].Count)) throw new ArgumentException("prompts must have equal lengths", nameof(prompts));
        using var _ = torch.no_grad();
        for (int i = 0; i < n; i++)
        {
            using var scope = torch.NewDisposeScope();
            var logits = model.Logits(torch.tensor(seqs.SelectMany(s => s).ToArray()).view(b, -1));   // (B, T, V)
            var next = logits.select(1, -1).argmax(-1);                                                 // (B)
            for (int r = 0; r < b; r++) seqs[r].Add(next[r].item<long>());
        }
        return seqs.Select((s, r) => s.Skip(prompts[r].Length).ToArray()).ToArray();
    }

    /// <summary>Batched cached decoding; rows shorter than the longest are left-padded and masked.</summary>
    public static long[][] CachedBatch(CausalLM model, long[][] prompts, int n)
    {
        int b = prompts.Length, t = prompts.Max(p => p.Length);
        var ids = new long[b * t]; var mask = new long[b * t];
        for (int r = 0; r < b; r++)
            for (int j = 0; j < prompts[r].Length; j++) { ids[r * t + t - prompts[r].Length + j] = prompts[r][j]; mask[r * t + t - prompts[r].Length + j] = 1; }
        bool padded = prompts.Any(p => p.Length != t);
        var result = Enumerable.Range(0, b).Select(_ => new List<long>()).ToArray();
        using var cache = model.CreateKvCache(b, t + n);
        using var _ = torch.no_grad();
        var maskT = torch.tensor(mask).view(b, t);
        var input = torch.tensor(ids).view(b, t);
        for (int step = 0; step < n; step++)
        {
            using var scope = torch.NewDisposeScope();
            var logits = model.Logits(input, cache, padded ? maskT : null);                 // (B, T, V)
            var next = logits.select(1, -1).argmax(-1);                                      // (B)
            for (int r = 0; r < b; r++) result[r].Add(next[r].item<long>());
            input = next.view(b, 1).DetachFromDisposeScope();
            if (padded) maskT = torch.cat([maskT, torch.ones(b, 1, dtype: ScalarType.Int64)], 1).DetachFromDisposeScope();
        }
        return result.Select(l => l.ToArray()).ToArray();
    }
}

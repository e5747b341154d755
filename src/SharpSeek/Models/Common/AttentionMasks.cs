using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>Positions and allowed-keys masks for T new tokens after <c>past</c> cached ones, shared by every family.</summary>
public static class AttentionMasks
{
    /// <summary>
    /// Positions (1, T) or (B, T) and the allowed-keys mask (1 or B, 1, T, S), S = past + T: causal by cache slot, padded
    /// keys excluded, positions = cumsum(mask) − 1 with a mask (Hugging Face's convention) or past..past+T−1 without; a
    /// query always sees itself, so padded rows stay finite. <paramref name="segmentIds"/> (B, S), if given, makes the mask
    /// block-diagonal (packed samples: a token sees only earlier tokens of its own segment) and restarts the positions at 0
    /// where a segment starts. <paramref name="positionIds"/> (B, T), if given, wins.
    /// </summary>
    public static (Tensor Positions, Tensor Allowed) Build(long b, long t, int past, Tensor? attentionMask, Tensor? positionIds, Device device,
                                                           Tensor? segmentIds = null)
    {
        long s = past + t;
        var slotQ = torch.arange(past, s, dtype: ScalarType.Int64, device: device).view(-1, 1);   // (T, 1)
        var slotK = torch.arange(0, s, dtype: ScalarType.Int64, device: device).view(1, -1);      // (1, S)
        var allowed = slotK.le(slotQ).view(1, 1, t, s);                                           // (1, 1, T, S)
        Tensor positions;
        if (attentionMask is not null)
        {
            if (attentionMask.dim() != 2 || attentionMask.shape[0] != b || attentionMask.shape[1] != s)
                throw new GenerationException($"attention mask has shape [{string.Join(", ", attentionMask.shape)}], expected [{b}, {s}] (rows, cached + new tokens)");
            var real = attentionMask.to(ScalarType.Int64, device);                                  // (B, S)
            positions = (real.cumsum(1) - 1).clamp_min(0).narrow(1, past, t);                       // (B, T)
            allowed = allowed.logical_and(real.ne(0).view(b, 1, 1, s)).logical_or(slotK.eq(slotQ).view(1, 1, t, s));   // (B, 1, T, S)
        }
        else positions = torch.arange(past, s, dtype: ScalarType.Int64, device: device).unsqueeze(0);                   // (1, T)
        if (segmentIds is not null)
        {
            if (segmentIds.dim() != 2 || segmentIds.shape[0] != b || segmentIds.shape[1] != s)
                throw new GenerationException($"segment ids have shape [{string.Join(", ", segmentIds.shape)}], expected [{b}, {s}] (rows, cached + new tokens)");
            var seg = segmentIds.to(ScalarType.Int64, device);                                      // (B, S)
            var same = seg.narrow(1, past, t).unsqueeze(2).eq(seg.unsqueeze(1)).unsqueeze(1);       // (B, 1, T, S)
            allowed = allowed.logical_and(same);
            positions = SegmentPositions(seg).narrow(1, past, t);                                   // (B, T)
        }
        if (positionIds is not null)
        {
            if (positionIds.dim() != 2 || positionIds.shape[1] != t)
                throw new GenerationException($"position ids have shape [{string.Join(", ", positionIds.shape)}], expected [{b}, {t}]");
            positions = positionIds.to(ScalarType.Int64, device);
        }
        return (positions, allowed);
    }

    /// <summary>Offset of each token in its segment (B, S): 0 where the segment id changes (and at slot 0), then 1, 2, …</summary>
    public static Tensor SegmentPositions(Tensor segmentIds)
    {
        using var scope = torch.NewDisposeScope();
        long b = segmentIds.shape[0], s = segmentIds.shape[1];
        var slot = torch.arange(0, s, dtype: ScalarType.Int64, device: segmentIds.device).unsqueeze(0).expand(b, s);   // (B, S)
        var starts = torch.ones(b, s, ScalarType.Bool, segmentIds.device);
        if (s > 1) starts[.., 1..] = segmentIds.narrow(1, 1, s - 1).ne(segmentIds.narrow(1, 0, s - 1));
        var (start, _) = torch.where(starts, slot, torch.zeros_like(slot)).cummax(1);               // (B, S) slot where each segment began
        return (slot - start).MoveToOuterDisposeScope();
    }

    /// <summary>softmax(scores masked to <paramref name="allowed"/>) in float32: (B, H, T, S).</summary>
    public static Tensor Softmax(Tensor scores, Tensor allowed) =>
        scores.to(ScalarType.Float32).masked_fill(allowed.logical_not(), float.NegativeInfinity).softmax(-1);
}

/// <summary>Dispose-scope helpers for tensors collected deep inside a forward.</summary>
public static class OutputTensors
{
    /// <summary>
    /// Tensors detached from every dispose scope (collected in nested modules), re-created as aliases in the current
    /// scope so a forward can hand them to its caller with the rest; the detached handles are released.
    /// </summary>
    public static List<Tensor> Adopt(List<Tensor> detached)
    {
        var result = detached.Select(t => t.alias()).ToList();
        foreach (var t in detached) t.Dispose();
        return result;
    }

    /// <summary>Moves each distinct tensor of <paramref name="tensors"/> once to the enclosing dispose scope (a tensor listed twice moves once).</summary>
    public static void MoveOut(IEnumerable<Tensor> tensors)
    {
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var t in tensors) if (seen.Add(t)) t.MoveToOuterDisposeScope();
    }
}

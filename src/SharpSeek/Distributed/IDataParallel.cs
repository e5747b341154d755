using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Distributed;

/// <summary>
/// What the one training loop asks of its data-parallel group (PyTorch DDP's contract, Li et al. 2020): every rank holds a
/// full replica, trains on its shard of each global batch, and gradients are averaged before the identical optimizer step.
/// <see cref="Training.Trainer"/> calls it only when one is set; a single process has none.
/// </summary>
public interface IDataParallel
{
    /// <summary>This process's rank, 0 … <see cref="Size"/> − 1.</summary>
    int Rank { get; }

    /// <summary>Number of ranks.</summary>
    int Size { get; }

    /// <summary>Rank 0: the only one that writes checkpoints, metrics and plots.</summary>
    bool IsRoot => Rank == 0;

    /// <summary>
    /// Throws <see cref="DistributedException"/> on every rank unless every rank passed the same <paramref name="text"/>
    /// (compared by SHA-256 broadcast from rank 0); <paramref name="what"/> names it in the message.
    /// </summary>
    void CheckSame(string what, string text);

    /// <summary>Overwrites <paramref name="tensors"/> on every rank with rank 0's values (in place).</summary>
    void BroadcastFromRoot(IReadOnlyList<Tensor> tensors);

    /// <summary>Rank 0's <paramref name="value"/> on every rank.</summary>
    int BroadcastFromRoot(int value);

    /// <summary>Replaces each parameter's gradient by its mean over the ranks (flattened buckets); a missing gradient counts as zeros.</summary>
    void AverageGradients(IReadOnlyList<Parameter> parameters);

    /// <summary>Wall-clock seconds of the last <see cref="AverageGradients"/> (flatten, all-reduce, unflatten); 0 before the first.</summary>
    double GradientReduceSeconds { get; }

    /// <summary>The element-wise sum of <paramref name="values"/> over the ranks (in place; the same length on every rank).</summary>
    void Sum(long[] values);

    /// <summary>The element-wise mean of <paramref name="values"/> over the ranks (in place; the same length on every rank).</summary>
    void Average(double[] values);

    // The three calls of ZeRO-1 (ZeroOptimizer). Their defaults refuse, so a group that never shards the optimizer state
    // (a test double, say) need not implement them.

    /// <summary>
    /// All-gather in place (MPI_Allgatherv) into the contiguous fp32 <paramref name="buffer"/>: rank r's part is the
    /// <paramref name="counts"/>[r] elements at <paramref name="displacements"/>[r], and this rank's part is already there (ZeRO-1).
    /// </summary>
    void AllGather(Tensor buffer, IReadOnlyList<long> counts, IReadOnlyList<long> displacements) =>
        throw new NotSupportedException($"{GetType().Name} cannot all-gather, which zero_stage 1 needs");

    /// <summary>Sends the contiguous fp32 <paramref name="tensor"/> to rank <paramref name="destination"/> (blocking; it calls <see cref="Receive"/>).</summary>
    void Send(Tensor tensor, int destination) => throw new NotSupportedException($"{GetType().Name} cannot send, which zero_stage 1 needs");

    /// <summary>Receives into the contiguous fp32 <paramref name="tensor"/> what rank <paramref name="source"/> sends (blocking).</summary>
    void Receive(Tensor tensor, int source) => throw new NotSupportedException($"{GetType().Name} cannot receive, which zero_stage 1 needs");
}

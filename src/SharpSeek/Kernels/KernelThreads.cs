using TorchSharp;

namespace SharpSeek.Kernels;

/// <summary>
/// How SharpSeek's C# kernels split work over threads: as many as LibTorch's intra-op pool (torch.get_num_threads(),
/// at most the cores), one when the work is too small to pay for waking a second.
/// </summary>
public static class KernelThreads
{
    /// <summary>Below this many elements of work one thread is faster than waking a second.</summary>
    public const long ParallelThreshold = 1 << 16;

    /// <summary>Threads for <paramref name="work"/> elements.</summary>
    public static int Count(long work) =>
        work < ParallelThreshold ? 1 : Math.Clamp(torch.get_num_threads(), 1, Environment.ProcessorCount);

    /// <summary>
    /// Runs <paramref name="body"/>(i) for i in [0, <paramref name="count"/>) on <see cref="Count"/>(<paramref name="work"/>)
    /// threads, items handed out as threads come free: a thread that starts late (without OMP_WAIT_POLICY=PASSIVE,
    /// LibTorch's OpenMP workers spin on the other core after each op) takes fewer items instead of holding up the end,
    /// as a fixed split would.
    /// </summary>
    public static void For(long work, long count, Action<long> body)
    {
        int threads = Count(work);
        if (threads == 1 || count == 1) { for (long i = 0; i < count; i++) body(i); return; }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
    }
}

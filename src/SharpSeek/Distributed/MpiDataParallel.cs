using System.Security.Cryptography;
using System.Text;
using SharpSeek.Kernels;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Distributed;

/// <summary>
/// <see cref="IDataParallel"/> over MPI_COMM_WORLD (Open MPI): initialises MPI when created and finalises it when disposed.
/// Create it only in a process launched by <c>mpirun</c> (<see cref="LaunchedByMpirun"/>); a single process never loads MPI.
/// </summary>
public sealed unsafe class MpiDataParallel : IDataParallel, IDisposable
{
    private readonly MpiNative _mpi;
    private readonly bool _ownsInit;
    private bool _disposed;

    public int Rank { get; }
    public int Size { get; }
    public bool IsRoot => Rank == 0;

    /// <summary>Elements of one fp32 all-reduce bucket (default <see cref="GradientBuckets.DefaultCapElements"/>).</summary>
    public long BucketElements { get; init; } = GradientBuckets.DefaultCapElements;

    /// <summary>Environment variable Open MPI's launcher sets in every process it starts (the world size).</summary>
    public const string LauncherVariable = "OMPI_COMM_WORLD_SIZE";

    /// <summary>True when this process was started by Open MPI's <c>mpirun</c>/<c>mpiexec</c>.</summary>
    public static bool LaunchedByMpirun() => Environment.GetEnvironmentVariable(LauncherVariable) is { Length: > 0 };

    /// <summary>Initialises MPI (MPI_THREAD_SERIALIZED) unless already initialised; throws <see cref="DistributedException"/> when the library is missing.</summary>
    public MpiDataParallel()
    {
        _mpi = MpiNative.Instance;
        if (!_mpi.Initialized())
        {
            int provided = _mpi.InitThread(MpiNative.ThreadSerialized);
            _ownsInit = true;
            if (provided < MpiNative.ThreadSerialized)
            {
                _mpi.FinalizeMpi();
                throw new DistributedException($"the MPI library provides thread level {provided}; SharpSeek needs MPI_THREAD_SERIALIZED ({MpiNative.ThreadSerialized})");
            }
        }
        Rank = _mpi.CommRank(_mpi.CommWorld);
        Size = _mpi.CommSize(_mpi.CommWorld);
    }

    public void CheckSame(string what, string text)
    {
        byte[] mine = SHA256.HashData(Encoding.UTF8.GetBytes(text));
        byte[] root = (byte[])mine.Clone();
        fixed (byte* p = root) _mpi.Bcast((IntPtr)p, root.Length, _mpi.Byte, 0, _mpi.CommWorld);
        int differs = mine.AsSpan().SequenceEqual(root) ? -1 : Rank;
        _mpi.Allreduce(MpiNative.InPlace, (IntPtr)(&differs), 1, _mpi.Int, _mpi.OpMax, _mpi.CommWorld);   // the highest differing rank, or -1
        if (differs >= 0) throw new DistributedException(MismatchMessage(what, differs), onEveryRank: true);
    }

    /// <summary>The error every rank reports when rank <paramref name="rank"/>'s <paramref name="what"/> differs from rank 0's.</summary>
    public static string MismatchMessage(string what, int rank) =>
        $"rank {rank} was started with a different {what} than rank 0 (checksums differ); start every rank with the same --config, --set and data";

    public void BroadcastFromRoot(IReadOnlyList<Tensor> tensors)
    {
        if (Size == 1) return;
        using var scope = NewDisposeScope();
        foreach (var t in tensors)
        {
            using var _ = no_grad();
            var buffer = t.dtype == ScalarType.Float32 && t.is_contiguous() ? t : t.to(ScalarType.Float32).contiguous();
            foreach (var (offset, count) in Chunks(buffer.numel()))
                _mpi.Bcast(Address(buffer, offset), count, _mpi.Float, 0, _mpi.CommWorld);
            if (!ReferenceEquals(buffer, t)) t.copy_(buffer);
        }
    }

    public int BroadcastFromRoot(int value)
    {
        _mpi.Bcast((IntPtr)(&value), 1, _mpi.Int, 0, _mpi.CommWorld);
        return value;
    }

    public void AverageGradients(IReadOnlyList<Parameter> parameters)
    {
        if (Size == 1) return;
        var sizes = parameters.Select(p => p.numel()).ToList();
        foreach (var (start, end) in GradientBuckets.Plan(sizes, BucketElements))
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var pieces = new List<Tensor>();
            for (int i = start; i < end; i++)
                pieces.Add(parameters[i].grad is { } g ? g.to(ScalarType.Float32).reshape(-1) : zeros(sizes[i], ScalarType.Float32));
            var flat = pieces.Count == 1 ? pieces[0].contiguous() : cat(pieces, 0);   // (bucket elements,) fp32
            foreach (var (offset, count) in Chunks(flat.numel()))
                _mpi.Allreduce(MpiNative.InPlace, Address(flat, offset), count, _mpi.Float, _mpi.OpSum, _mpi.CommWorld);
            flat.div_(Size);
            long at = 0;
            for (int i = start; i < end; i++)
            {
                if (parameters[i].grad is { } g) g.copy_(flat.narrow(0, at, sizes[i]).view_as(g));
                at += sizes[i];
            }
        }
    }

    public void Average(double[] values)
    {
        if (Size == 1 || values.Length == 0) return;
        fixed (double* p = values) _mpi.Allreduce(MpiNative.InPlace, (IntPtr)p, values.Length, _mpi.Double, _mpi.OpSum, _mpi.CommWorld);
        for (int i = 0; i < values.Length; i++) values[i] /= Size;
    }

    public void AllGather(Tensor buffer, IReadOnlyList<long> counts, IReadOnlyList<long> displacements)
    {
        if (Size == 1) return;
        CheckBuffer(buffer, nameof(AllGather));
        if (counts.Count != Size || displacements.Count != Size) throw new ArgumentException($"{Size} counts and displacements expected");
        if (buffer.numel() > GradientBuckets.MaxCallElements) throw new ArgumentException("an all-gather buffer must fit one MPI call (a C int count); gather in windows");
        for (int r = 0; r < Size; r++)
            if (counts[r] < 0 || displacements[r] < 0 || displacements[r] + counts[r] > buffer.numel())
                throw new ArgumentOutOfRangeException(nameof(counts), $"rank {r}'s part [{displacements[r]}, +{counts[r]}) is outside the buffer of {buffer.numel()}");
        _mpi.Allgatherv(MpiNative.InPlace, 0, _mpi.Float, Address(buffer, 0), counts.Select(c => (int)c).ToArray(),
                        displacements.Select(d => (int)d).ToArray(), _mpi.Float, _mpi.CommWorld);
    }

    public void Send(Tensor tensor, int destination)
    {
        CheckBuffer(tensor, nameof(Send));
        foreach (var (offset, count) in Chunks(tensor.numel()))
            _mpi.Send(Address(tensor, offset), count, _mpi.Float, destination, PointToPointTag, _mpi.CommWorld);
    }

    public void Receive(Tensor tensor, int source)
    {
        CheckBuffer(tensor, nameof(Receive));
        foreach (var (offset, count) in Chunks(tensor.numel()))
            _mpi.Recv(Address(tensor, offset), count, _mpi.Float, source, PointToPointTag, _mpi.CommWorld);
    }

    private const int PointToPointTag = 14;   // issue #14; messages between two ranks arrive in the order sent

    private static void CheckBuffer(Tensor t, string call)
    {
        if (t.dtype != ScalarType.Float32 || !t.is_contiguous() || t.device_type != TorchSharp.DeviceType.CPU)
            throw new ArgumentException($"{call} needs a contiguous fp32 CPU tensor, got {t.dtype} (contiguous: {t.is_contiguous()})");
    }

    /// <summary>Waits until every rank reaches it.</summary>
    public void Barrier() => _mpi.Barrier(_mpi.CommWorld);

    /// <summary>Ends every rank with <paramref name="exitCode"/> (MPI_Abort): for an error one rank hit alone, so the others do not wait forever.</summary>
    public void Abort(int exitCode) => _mpi.Abort(_mpi.CommWorld, exitCode);

    /// <summary>MPI_Finalize (when this object initialised MPI).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsInit) _mpi.FinalizeMpi();
    }

    private static IEnumerable<(long Offset, int Count)> Chunks(long elements)
    {
        for (long offset = 0; offset < elements; offset += GradientBuckets.MaxCallElements)
            yield return (offset, (int)Math.Min(GradientBuckets.MaxCallElements, elements - offset));
    }

    private static IntPtr Address(Tensor t, long offset) => (IntPtr)((float*)TensorData.Pointer(t) + offset);
}


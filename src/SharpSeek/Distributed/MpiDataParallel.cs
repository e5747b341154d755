using System.Diagnostics;
using System.Runtime.InteropServices;
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
    private ScalarType _reduceDType = ScalarType.Float32;
    private IntPtr _bf16Sum;                                   // the MPI_Op of bf16 buckets, created on first use
    private long _waitSince;                                   // Stopwatch timestamp the current blocking MPI call started at; 0 = none
    private string _waitOperation = "";                        // its name (a literal: nothing allocated per call)
    private Thread? _watchdog;
    private readonly ManualResetEventSlim _stopWatchdog = new();

    public int Rank { get; }
    public int Size { get; }
    public bool IsRoot => Rank == 0;

    /// <summary>Bytes of one all-reduce bucket (default <see cref="GradientBuckets.DefaultCapBytes"/>).</summary>
    public long BucketBytes { get; init; } = GradientBuckets.DefaultCapBytes;

    /// <summary>
    /// Element type of the gradient buckets on the wire (config <c>grad_reduce_dtype</c>): Float32 (default) or BFloat16,
    /// half the bytes: each rank's gradient is rounded to bf16 and the sum is a correctly rounded bf16 sum
    /// (<see cref="GradientBuckets.AddBf16"/>, a user-defined MPI_Op over 16-bit words); the mean is taken in fp32.
    /// </summary>
    public ScalarType GradientReduceDType
    {
        get => _reduceDType;
        set => _reduceDType = value is ScalarType.Float32 or ScalarType.BFloat16 ? value
            : throw new ArgumentException($"gradient buckets are Float32 or BFloat16, not {value}", nameof(value));
    }

    public double GradientReduceSeconds { get; private set; }

    /// <summary>
    /// Config <c>collective_timeout_minutes</c>: a blocking MPI call (all-reduce, broadcast, barrier, all-gather, send,
    /// receive) that waits longer than this ends this rank at once (exit 2, <see cref="HangMessage"/> on stderr), so
    /// mpirun ends the job instead of every rank waiting forever for one that hangs. 0 = off. A background thread
    /// checks about once a second (started on the first call when positive and <see cref="Size"/> &gt; 1; stopped by
    /// <see cref="Dispose"/>). Must exceed the longest legitimate wait: the others wait in a broadcast while rank 0
    /// evaluates and writes a checkpoint.
    /// </summary>
    public double CollectiveTimeoutMinutes
    {
        get => _timeoutMinutes;
        set => _timeoutMinutes = value >= 0 && double.IsFinite(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(value), $"a collective timeout is 0 (off) or positive minutes, got {value}");
    }
    private double _timeoutMinutes;

    /// <summary>
    /// The line a rank prints before ending itself when its MPI call <paramref name="operation"/> has waited
    /// <paramref name="waitedSeconds"/> with <paramref name="timeoutMinutes"/> as the limit, or null while within it (or off).
    /// </summary>
    public static string? HangMessage(int rank, string operation, double waitedSeconds, double timeoutMinutes) =>
        timeoutMinutes <= 0 || waitedSeconds <= timeoutMinutes * 60 ? null
            : string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"error: rank {rank}: no progress for {timeoutMinutes:0.###} min in {operation} (another rank is hung or much slower); ending this rank so mpirun ends the job");

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
        using (Waiting("MPI_Bcast"))
            fixed (byte* p = root) _mpi.Bcast((IntPtr)p, root.Length, _mpi.Byte, 0, _mpi.CommWorld);
        int differs = mine.AsSpan().SequenceEqual(root) ? -1 : Rank;
        using (Waiting("MPI_Allreduce"))
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
            using (Waiting("MPI_Bcast"))
            {
                foreach (var (offset, count) in Chunks(buffer.numel()))
                    _mpi.Bcast(Address(buffer, offset), count, _mpi.Float, 0, _mpi.CommWorld);
            }
            if (!ReferenceEquals(buffer, t)) t.copy_(buffer);
        }
    }

    public int BroadcastFromRoot(int value)
    {
        using (Waiting("MPI_Bcast"))
            _mpi.Bcast((IntPtr)(&value), 1, _mpi.Int, 0, _mpi.CommWorld);
        return value;
    }

    public void AverageGradients(IReadOnlyList<Parameter> parameters)
    {
        if (Size == 1) return;
        long started = Stopwatch.GetTimestamp();
        bool bf16 = GradientReduceDType == ScalarType.BFloat16;
        var (dtype, mpiType, op) = bf16 ? (ScalarType.BFloat16, _mpi.UInt16, Bf16SumOp()) : (ScalarType.Float32, _mpi.Float, _mpi.OpSum);
        var sizes = parameters.Select(p => p.numel()).ToList();
        long capElements = Math.Max(1, BucketBytes / (bf16 ? sizeof(ushort) : sizeof(float)));
        foreach (var (start, end) in GradientBuckets.Plan(sizes, capElements))
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var pieces = new List<Tensor>();
            for (int i = start; i < end; i++)
                pieces.Add(parameters[i].grad is { } g ? g.to(dtype).reshape(-1) : zeros(sizes[i], dtype));
            var flat = pieces.Count == 1 ? pieces[0].contiguous() : cat(pieces, 0);   // (bucket elements,) fp32 or bf16
            using (Waiting("MPI_Allreduce"))
            {
                foreach (var (offset, count) in Chunks(flat.numel()))
                    _mpi.Allreduce(MpiNative.InPlace, Address(flat, offset), count, mpiType, op, _mpi.CommWorld);
            }
            var mean = (bf16 ? flat.to(ScalarType.Float32) : flat).div_(Size);         // (bucket elements,) fp32
            long at = 0;
            for (int i = start; i < end; i++)
            {
                if (parameters[i].grad is { } g) g.copy_(mean.narrow(0, at, sizes[i]).view_as(g));
                at += sizes[i];
            }
        }
        GradientReduceSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    public void Sum(long[] values)
    {
        if (Size == 1 || values.Length == 0) return;
        using (Waiting("MPI_Allreduce"))
            fixed (long* p = values) _mpi.Allreduce(MpiNative.InPlace, (IntPtr)p, values.Length, _mpi.Long, _mpi.OpSum, _mpi.CommWorld);
    }

    public void Average(double[] values)
    {
        if (Size == 1 || values.Length == 0) return;
        using (Waiting("MPI_Allreduce"))
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
        int[] counts32 = counts.Select(c => (int)c).ToArray(), displacements32 = displacements.Select(d => (int)d).ToArray();
        using (Waiting("MPI_Allgatherv"))
            _mpi.Allgatherv(MpiNative.InPlace, 0, _mpi.Float, Address(buffer, 0), counts32, displacements32, _mpi.Float, _mpi.CommWorld);
    }

    public void Send(Tensor tensor, int destination)
    {
        CheckBuffer(tensor, nameof(Send));
        using (Waiting("MPI_Send"))
        {
            foreach (var (offset, count) in Chunks(tensor.numel()))
                _mpi.Send(Address(tensor, offset), count, _mpi.Float, destination, PointToPointTag, _mpi.CommWorld);
        }
    }

    public void Receive(Tensor tensor, int source)
    {
        CheckBuffer(tensor, nameof(Receive));
        using (Waiting("MPI_Recv"))
        {
            foreach (var (offset, count) in Chunks(tensor.numel()))
                _mpi.Recv(Address(tensor, offset), count, _mpi.Float, source, PointToPointTag, _mpi.CommWorld);
        }
    }

    private const int PointToPointTag = 14;   // issue #14; messages between two ranks arrive in the order sent

    private static void CheckBuffer(Tensor t, string call)
    {
        if (t.dtype != ScalarType.Float32 || !t.is_contiguous() || t.device_type != TorchSharp.DeviceType.CPU)
            throw new ArgumentException($"{call} needs a contiguous fp32 CPU tensor, got {t.dtype} (contiguous: {t.is_contiguous()})");
    }

    /// <summary>Waits until every rank reaches it.</summary>
    public void Barrier()
    {
        using (Waiting("MPI_Barrier"))
            _mpi.Barrier(_mpi.CommWorld);
    }

    /// <summary>Ends every rank with <paramref name="exitCode"/> (MPI_Abort): for an error one rank hit alone, so the others do not wait forever.</summary>
    public void Abort(int exitCode) => _mpi.Abort(_mpi.CommWorld, exitCode);

    /// <summary>MPI_Finalize (when this object initialised MPI).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_bf16Sum != IntPtr.Zero) { _mpi.OpFree(_bf16Sum); _bf16Sum = IntPtr.Zero; }
        if (_ownsInit)
        {
            using (Waiting("MPI_Finalize"))                                          // waits for the other ranks too
                _mpi.FinalizeMpi();
        }
        _stopWatchdog.Set();
        _watchdog?.Join();
        _stopWatchdog.Dispose();
    }

    /// <summary>
    /// Marks this rank as waiting in <paramref name="operation"/> until the returned scope is disposed (also when the call
    /// throws), and starts the watchdog when it is on.
    /// </summary>
    private WaitScope Waiting(string operation)
    {
        Volatile.Write(ref _waitOperation, operation);
        Interlocked.Exchange(ref _waitSince, Stopwatch.GetTimestamp());
        if (_watchdog is null && _timeoutMinutes > 0 && Size > 1) StartWatchdog();
        return new WaitScope(this);
    }

    /// <summary>The blocking call returned: no wait in progress.</summary>
    private readonly struct WaitScope(MpiDataParallel owner) : IDisposable
    {
        public void Dispose() => Interlocked.Exchange(ref owner._waitSince, 0);
    }

    private void StartWatchdog()
    {
        _watchdog = new Thread(Watch) { IsBackground = true, Name = "MPI watchdog" };
        _watchdog.Start();
    }

    /// <summary>
    /// About once a second: ends the process with exit code 2 when the current MPI call waited past the limit. Calls
    /// no MPI (MPI_THREAD_SERIALIZED) and uses _exit, not Environment.Exit, which could wait for the thread stuck in MPI;
    /// mpirun sees a rank end without MPI_Finalize and ends the others.
    /// </summary>
    private void Watch()
    {
        while (!_stopWatchdog.Wait(TimeSpan.FromSeconds(1)))
        {
            long since = Interlocked.Read(ref _waitSince);
            if (since == 0) continue;
            if (HangMessage(Rank, Volatile.Read(ref _waitOperation), Stopwatch.GetElapsedTime(since).TotalSeconds, _timeoutMinutes) is not { } message) continue;
            Console.Error.WriteLine(message);
            Console.Error.Flush();
            ExitNow(2);
        }
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void ExitNow(int status);

    private IntPtr Bf16SumOp()
    {
        if (_bf16Sum == IntPtr.Zero)
            _bf16Sum = _mpi.OpCreate((IntPtr)(delegate* unmanaged<ushort*, ushort*, int*, IntPtr*, void>)&SumBf16, commutative: true);   // a + b = b + a bit for bit
        return _bf16Sum;
    }

    /// <summary>The bf16 sum as an MPI_User_function: inout[i] = in[i] + inout[i] over 16-bit words (<see cref="GradientBuckets.SumBf16"/>).</summary>
    [UnmanagedCallersOnly]
    private static void SumBf16(ushort* input, ushort* inout, int* length, IntPtr* datatype) =>
        GradientBuckets.SumBf16(new ReadOnlySpan<ushort>(input, *length), new Span<ushort>(inout, *length));

    private static IEnumerable<(long Offset, int Count)> Chunks(long elements)
    {
        for (long offset = 0; offset < elements; offset += GradientBuckets.MaxCallElements)
            yield return (offset, (int)Math.Min(GradientBuckets.MaxCallElements, elements - offset));
    }

    private static IntPtr Address(Tensor t, long offset) => (IntPtr)((byte*)TensorData.Pointer(t) + offset * t.ElementSize);
}


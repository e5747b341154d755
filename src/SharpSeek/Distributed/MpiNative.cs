using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

// bench/run scaling times raw MPI_Allreduce calls through this binding (bench/SharpSeek.Bench/Scaling/AllReduceWorker.cs).
[assembly: InternalsVisibleTo("SharpSeek.Bench")]

namespace SharpSeek.Distributed;

/// <summary>The MPI library could not be loaded or an MPI call failed; one clear sentence, the CLI exits 2.</summary>
public sealed class DistributedException : SharpSeekException
{
    public DistributedException(string message, bool onEveryRank = false) : base(message) { OnEveryRank = onEveryRank; }

    /// <summary>Every rank raised it together (a collective check), so each can finish MPI and exit on its own.</summary>
    public bool OnEveryRank { get; }
}

/// <summary>
/// A thin binding of the MPI C API (MPI-3.1 standard, §5 collectives) to Open MPI 4's <c>libmpi.so.40</c>, loaded on first
/// use only. Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are the addresses of exported globals
/// (<c>ompi_mpi_comm_world</c>, <c>ompi_mpi_float</c>, <c>ompi_mpi_op_sum</c>, …), so they are resolved with
/// <see cref="NativeLibrary.GetExport"/>; MPICH's integer handles are not supported.
/// </summary>
internal sealed unsafe class MpiNative
{
    /// <summary>Library names tried in order (Debian's openmpi-bin / libopenmpi3 install the first).</summary>
    public static readonly string[] LibraryNames = ["libmpi.so.40", "libmpi.so"];

    /// <summary>MPI_THREAD_SERIALIZED: any thread may call MPI, one at a time (the trainer may run off the main thread).</summary>
    public const int ThreadSerialized = 2;

    /// <summary>Open MPI's <c>MPI_IN_PLACE</c>: <c>(void*)1</c>.</summary>
    public static readonly IntPtr InPlace = 1;

    public IntPtr CommWorld { get; }
    public IntPtr Float { get; }
    public IntPtr Double { get; }
    public IntPtr Int { get; }
    public IntPtr Byte { get; }
    public IntPtr UInt16 { get; }
    public IntPtr Long { get; }
    public IntPtr OpSum { get; }
    public IntPtr OpMax { get; }

    private readonly delegate* unmanaged<int*, IntPtr, int, int*, int> _initThread;
    private readonly delegate* unmanaged<int*, int> _initialized;
    private readonly delegate* unmanaged<int> _finalize;
    private readonly delegate* unmanaged<IntPtr, int*, int> _commRank;
    private readonly delegate* unmanaged<IntPtr, int*, int> _commSize;
    private readonly delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, int> _allreduce;
    private readonly delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, int> _bcast;
    private readonly delegate* unmanaged<IntPtr, int, IntPtr, IntPtr, int*, int*, IntPtr, IntPtr, int> _allgatherv;
    private readonly delegate* unmanaged<IntPtr, int, IntPtr, int, int, IntPtr, int> _send;
    private readonly delegate* unmanaged<IntPtr, int, IntPtr, int, int, IntPtr, IntPtr, int> _recv;
    private readonly delegate* unmanaged<IntPtr, int> _barrier;
    private readonly delegate* unmanaged<IntPtr, int, int> _abort;
    private readonly delegate* unmanaged<IntPtr, int, IntPtr*, int> _opCreate;
    private readonly delegate* unmanaged<IntPtr*, int> _opFree;

    private static MpiNative? _loaded;
    private static readonly Lock Gate = new();

    /// <summary>The process's MPI library, loaded on the first call.</summary>
    public static MpiNative Instance
    {
        get { lock (Gate) return _loaded ??= new MpiNative(Load(LibraryNames)); }
    }

    /// <summary>
    /// Loads the first of <paramref name="names"/> that exists; throws <see cref="DistributedException"/> naming the Debian
    /// packages when none does.
    /// </summary>
    internal static IntPtr Load(IReadOnlyList<string> names)
    {
        foreach (var name in names)
            if (NativeLibrary.TryLoad(name, out var handle)) return handle;
        throw new DistributedException(MissingLibraryMessage(names));
    }

    /// <summary>The error when no MPI library is found.</summary>
    internal static string MissingLibraryMessage(IReadOnlyList<string> names) =>
        $"cannot load the MPI library ({string.Join(", ", names)}): data-parallel training needs Open MPI 4; " +
        "install the Debian packages openmpi-bin and libopenmpi-dev (apt-get install openmpi-bin libopenmpi-dev)";

    private MpiNative(IntPtr lib)
    {
        IntPtr Export(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p
            : throw new DistributedException($"the MPI library has no symbol {name}: SharpSeek binds Open MPI 4 (Debian packages openmpi-bin and libopenmpi-dev), not another MPI");
        CommWorld = Export("ompi_mpi_comm_world");
        Float = Export("ompi_mpi_float");
        Double = Export("ompi_mpi_double");
        Int = Export("ompi_mpi_int");
        Byte = Export("ompi_mpi_byte");
        UInt16 = Export("ompi_mpi_uint16_t");
        Long = Export("ompi_mpi_int64_t");
        OpSum = Export("ompi_mpi_op_sum");
        OpMax = Export("ompi_mpi_op_max");
        _initThread = (delegate* unmanaged<int*, IntPtr, int, int*, int>)Export("MPI_Init_thread");
        _initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        _finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        _commRank = (delegate* unmanaged<IntPtr, int*, int>)Export("MPI_Comm_rank");
        _commSize = (delegate* unmanaged<IntPtr, int*, int>)Export("MPI_Comm_size");
        _allreduce = (delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, int>)Export("MPI_Allreduce");
        _bcast = (delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, int>)Export("MPI_Bcast");
        _allgatherv = (delegate* unmanaged<IntPtr, int, IntPtr, IntPtr, int*, int*, IntPtr, IntPtr, int>)Export("MPI_Allgatherv");
        _send = (delegate* unmanaged<IntPtr, int, IntPtr, int, int, IntPtr, int>)Export("MPI_Send");
        _recv = (delegate* unmanaged<IntPtr, int, IntPtr, int, int, IntPtr, IntPtr, int>)Export("MPI_Recv");
        _barrier = (delegate* unmanaged<IntPtr, int>)Export("MPI_Barrier");
        _abort = (delegate* unmanaged<IntPtr, int, int>)Export("MPI_Abort");
        _opCreate = (delegate* unmanaged<IntPtr, int, IntPtr*, int>)Export("MPI_Op_create");
        _opFree = (delegate* unmanaged<IntPtr*, int>)Export("MPI_Op_free");
    }

    /// <summary>MPI_Init_thread(NULL, NULL, required, &amp;provided); returns provided.</summary>
    public int InitThread(int required)
    {
        int provided;
        Check(_initThread(null, IntPtr.Zero, required, &provided), "MPI_Init_thread");
        return provided;
    }

    public bool Initialized() { int flag; Check(_initialized(&flag), "MPI_Initialized"); return flag != 0; }

    public void FinalizeMpi() => Check(_finalize(), "MPI_Finalize");

    public int CommRank(IntPtr comm) { int r; Check(_commRank(comm, &r), "MPI_Comm_rank"); return r; }

    public int CommSize(IntPtr comm) { int s; Check(_commSize(comm, &s), "MPI_Comm_size"); return s; }

    /// <summary>MPI_Allreduce; <paramref name="send"/> may be <see cref="InPlace"/>.</summary>
    public void Allreduce(IntPtr send, IntPtr recv, int count, IntPtr datatype, IntPtr op, IntPtr comm) =>
        Check(_allreduce(send, recv, count, datatype, op, comm), "MPI_Allreduce");

    public void Bcast(IntPtr buffer, int count, IntPtr datatype, int root, IntPtr comm) =>
        Check(_bcast(buffer, count, datatype, root, comm), "MPI_Bcast");

    /// <summary>MPI_Allgatherv; <paramref name="send"/> may be <see cref="InPlace"/> (then this rank's part is already in <paramref name="recv"/>).</summary>
    public void Allgatherv(IntPtr send, int sendCount, IntPtr sendType, IntPtr recv, int[] recvCounts, int[] displacements, IntPtr recvType, IntPtr comm)
    {
        fixed (int* counts = recvCounts)
        fixed (int* displs = displacements)
            Check(_allgatherv(send, sendCount, sendType, recv, counts, displs, recvType, comm), "MPI_Allgatherv");
    }

    /// <summary>MPI_Send (blocking, standard mode).</summary>
    public void Send(IntPtr buffer, int count, IntPtr datatype, int destination, int tag, IntPtr comm) =>
        Check(_send(buffer, count, datatype, destination, tag, comm), "MPI_Send");

    /// <summary>MPI_Recv with MPI_STATUS_IGNORE (Open MPI's null pointer).</summary>
    public void Recv(IntPtr buffer, int count, IntPtr datatype, int source, int tag, IntPtr comm) =>
        Check(_recv(buffer, count, datatype, source, tag, comm, IntPtr.Zero), "MPI_Recv");

    /// <summary>
    /// MPI_Op_create: a reduction from <paramref name="function"/>, an unmanaged
    /// <c>void f(void* in, void* inout, int* len, MPI_Datatype* type)</c> that folds <c>in</c> into <c>inout</c>.
    /// </summary>
    public IntPtr OpCreate(IntPtr function, bool commutative)
    {
        IntPtr op;
        Check(_opCreate(function, commutative ? 1 : 0, &op), "MPI_Op_create");
        return op;
    }

    public void OpFree(IntPtr op) => Check(_opFree(&op), "MPI_Op_free");

    public void Barrier(IntPtr comm) => Check(_barrier(comm), "MPI_Barrier");

    /// <summary>MPI_Abort: ends every process of <paramref name="comm"/> with <paramref name="errorCode"/>; does not return.</summary>
    public void Abort(IntPtr comm, int errorCode) => _abort(comm, errorCode);

    // Open MPI's default error handler (MPI_ERRORS_ARE_FATAL) aborts before a non-zero code reaches here; kept for others.
    private static void Check(int rc, string call)
    {
        if (rc != 0) throw new DistributedException($"{call} failed with MPI error code {rc}");
    }
}

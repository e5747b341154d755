using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace SharpSeek.Kernels;

/// <summary>Raw address of a CPU tensor's first element, for the C# kernels (TorchSharp exposes only a byte span, capped at 2 GB).</summary>
public static unsafe class TensorData
{
    /// <summary>Address of <paramref name="t"/>'s first element (null when it has none); taken through a one-element view, so any size works.</summary>
    public static void* Pointer(Tensor t)
    {
        if (t.NumberOfElements == 0) return null;
        using var first = t.as_strided([1], [1], t.storage_offset());
        return Unsafe.AsPointer(ref MemoryMarshal.GetReference(first.bytes));
    }
}

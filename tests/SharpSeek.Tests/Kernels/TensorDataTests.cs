using SharpSeek.Models.Common;
using static TorchSharp.torch;
using SharpSeek.Kernels;

namespace SharpSeek.Tests.Kernels;

public unsafe class TensorDataTests
{
    [Fact]
    public void Pointer_ViewsAndEmpty_AddressOfFirstElement()
    {
        using var t = arange(0, 24, ScalarType.Float32).view(4, 6);
        float* p = (float*)TensorData.Pointer(t);
        Assert.Equal(0f, p[0]);
        Assert.Equal(23f, p[23]);
        using var row = t.narrow(0, 2, 1);                        // offset view
        Assert.Equal(12f, *(float*)TensorData.Pointer(row));
        using var col = t.narrow(1, 3, 2).t();                    // non-contiguous view
        Assert.Equal(3f, *(float*)TensorData.Pointer(col));
        using var empty = zeros(0);
        Assert.True(TensorData.Pointer(empty) == null);
    }
}

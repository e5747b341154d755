using SharpSeek.Data;
using SharpSeek.Distributed;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Distributed;

public class GradientBucketsTests
{
    [Fact]
    public void Plan_SizesAndCap_GroupsConsecutiveUpToTheCap()
    {
        // 3+4 = 7 ≤ 8; +2 = 9 > 8 → new bucket; 2+5 = 7; +1 = 8 ≤ 8; 20 > 8 alone; 1
        var plan = GradientBuckets.Plan([3, 4, 2, 5, 1, 20, 1], capElements: 8);
        Assert.Equal([(0, 2), (2, 5), (5, 6), (6, 7)], plan);
    }

    [Fact]
    public void Plan_NoParameters_NoBuckets() => Assert.Empty(GradientBuckets.Plan([], 8));

    [Fact]
    public void Plan_ZeroCap_Throws() => Assert.Throws<ArgumentOutOfRangeException>(() => GradientBuckets.Plan([1], 0));

    /// <summary>bf16 pairs and their sums worked out by hand (bf16: sign, 8 exponent bits, 7 stored mantissa bits).</summary>
    public static TheoryData<ushort, ushort, ushort> Bf16Sums => new()
    {
        { 0x3F80, 0x3F80, 0x4000 },   // 1 + 1 = 2
        { 0x4040, 0xBF80, 0x4000 },   // 3 + (−1) = 2
        { 0x3F80, 0x3B80, 0x3F80 },   // 1 + 2⁻⁸ = 1 + half a unit (2⁻⁷): tie, to even → 1
        { 0x3F81, 0x3B80, 0x3F82 },   // (1 + 2⁻⁷) + 2⁻⁸: tie between 0x3F81 and 0x3F82, to even → 1 + 2⁻⁶
        { 0x3F80, 0x3BC0, 0x3F81 },   // 1 + 1.5·2⁻⁸: above the tie → 1 + 2⁻⁷
        { 0x3F80, 0x3B40, 0x3F80 },   // 1 + 0.75·2⁻⁸: below the tie → 1
        { 0x3F80, 0x0001, 0x3F80 },   // 1 + smallest subnormal (exponents 127 apart) → 1
        { 0x0001, 0x0001, 0x0002 },   // subnormals add exactly
        { 0x8000, 0x8000, 0x8000 },   // −0 + −0 = −0
        { 0x7F7F, 0x7F7F, 0x7F80 },   // largest finite (≈3.39e38) doubled overflows to +∞
        { 0x7F80, 0xFF80, 0x7FC0 },   // +∞ + −∞ = NaN (canonical 0x7FC0)
        { 0x7FC1, 0x3F80, 0x7FC0 },   // NaN + 1 = NaN
    };

    [Theory]
    [MemberData(nameof(Bf16Sums))]
    public void AddBf16_HandCheckedPairs_CorrectlyRoundedSum(ushort a, ushort b, ushort sum)
    {
        Assert.Equal(sum, GradientBuckets.AddBf16(a, b));
        Assert.Equal(sum, GradientBuckets.AddBf16(b, a));                                  // commutative bit for bit
    }

    [Fact]
    public void SumBf16_SpanLongerThanOneVector_EachElementIsTheHandCheckedSum()
    {
        var pairs = Bf16Sums.Select(row => ((ushort)row[0], (ushort)row[1], (ushort)row[2])).ToArray();
        int n = 3 * 64 + 5;                                                                 // SIMD lanes and a scalar tail
        var x = new ushort[n];
        var acc = new ushort[n];
        for (int i = 0; i < n; i++) (x[i], acc[i], _) = pairs[i * 5 % pairs.Length];
        GradientBuckets.SumBf16(x, acc);
        for (int i = 0; i < n; i++) Assert.True(pairs[i * 5 % pairs.Length].Item3 == acc[i], $"element {i}: 0x{acc[i]:X4}");
    }

    [Fact]
    public void SumBf16_RandomValues_EqualsLibTorchBf16Addition()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(7);
        var a = (randn(1001, generator: generator) * 10).to(ScalarType.BFloat16);
        var b = (randn(1001, generator: generator) * 0.01).to(ScalarType.BFloat16);
        var expected = Bits(a + b);                                                        // LibTorch: fp32 add, round to nearest even
        var x = Bits(a);
        var acc = Bits(b);
        GradientBuckets.SumBf16(x, acc);
        Assert.Equal(expected, acc);
    }

    private static ushort[] Bits(Tensor bf16) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bf16.contiguous().bytes).ToArray();

    [Fact]
    public void ToBf16_Fp32Values_RoundLikeLibTorch()
    {
        using var scope = NewDisposeScope();
        var f = randn(1001, generator: new TorchSharp.torch.Generator(3)) * 1e3;
        var expected = Bits(f.to(ScalarType.BFloat16));
        Assert.Equal(expected, f.data<float>().Select(GradientBuckets.ToBf16).ToArray());
    }
}

public class ShardedBatchSourceTests
{
    private static TokenArrayBatchSource Data() => new(Enumerable.Range(0, 200).Select(i => i % 17).ToArray(), Enumerable.Range(0, 50).Select(i => i % 17).ToArray(), 17, seed: 5);

    [Fact]
    public void Rows_RankOfSize_IsItsSliceOfTheBatch()
    {
        Assert.Equal((0L, 3L), ShardedBatchSource.Rows(6, 0, 2));
        Assert.Equal((3L, 3L), ShardedBatchSource.Rows(6, 1, 2));
        Assert.Equal((4L, 2L), ShardedBatchSource.Rows(6, 2, 3));
    }

    [Fact]
    public void Rows_BatchNotDivisible_ThrowsConfigException()
    {
        var e = Assert.Throws<ConfigException>(() => ShardedBatchSource.Rows(5, 0, 2));
        Assert.Equal("batch_size 5 does not split evenly over 2 ranks; choose a multiple of 2", e.Message);
    }

    [Fact]
    public void SampleBatch_TwoRanks_ShardsConcatenateToTheOneRankBatch()
    {
        using var scope = NewDisposeScope();
        var whole = Data();
        var d0 = Data();
        var d1 = Data();
        var r0 = new ShardedBatchSource(d0, 0, 2);
        var r1 = new ShardedBatchSource(d1, 1, 2);
        for (int step = 0; step < 3; step++)
        {
            var (x, y) = whole.SampleBatch(DataSplit.Train, 4, 8);
            var (x0, y0) = r0.SampleBatch(DataSplit.Train, 4, 8);
            var (x1, y1) = r1.SampleBatch(DataSplit.Train, 4, 8);
            Assert.Equal([2L, 8L], x0.shape);
            Assert.True(cat([x0, x1], 0).eq(x).all().item<bool>());
            Assert.True(cat([y0, y1], 0).eq(y).all().item<bool>());
        }
        Assert.Equal(whole.SaveState(), r1.SaveState());                                  // the global sampling position
        var (v, _) = whole.SampleBatch(DataSplit.Val, 4, 8);
        var (v1, _) = r1.SampleBatch(DataSplit.Val, 4, 8);
        Assert.True(v1.eq(v).all().item<bool>());                                           // validation is not split
    }
}

public class MpiNativeTests
{
    [Fact]
    public void Load_NoMpiLibrary_ThrowsNamingTheDebianPackages()
    {
        var e = Assert.Throws<DistributedException>(() => MpiNative.Load(["libmpi-not-here.so.99"]));
        Assert.Equal("cannot load the MPI library (libmpi-not-here.so.99): data-parallel training needs Open MPI 4; " +
                     "install the Debian packages openmpi-bin and libopenmpi-dev (apt-get install openmpi-bin libopenmpi-dev)", e.Message);
    }

    [Fact]
    public void LaunchedByMpirun_OutsideMpirun_IsFalse()
    {
        Assert.Null(Environment.GetEnvironmentVariable(MpiDataParallel.LauncherVariable));   // the test host is not an MPI rank
        Assert.False(MpiDataParallel.LaunchedByMpirun());
    }

    [Fact]
    public void MismatchMessage_Rank_NamesItAndTheFix() =>
        Assert.Equal("rank 3 was started with a different config than rank 0 (checksums differ); start every rank with the same --config, --set and data",
                     MpiDataParallel.MismatchMessage("config", 3));
}

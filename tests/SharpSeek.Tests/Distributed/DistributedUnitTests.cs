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

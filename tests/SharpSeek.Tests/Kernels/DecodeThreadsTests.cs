using SharpSeek.Kernels;

namespace SharpSeek.Tests.Kernels;

public class DecodeThreadsTests
{
    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 1)]
    [InlineData(2, 37)]
    [InlineData(3, 100)]
    public void For_AnyThreadCount_RunsEveryItemExactlyOnce(int threads, int items)
    {
        for (int repeat = 0; repeat < 20; repeat++)                  // consecutive loops: helpers join each new one
        {
            var counts = new int[items];
            DecodeThreads.For(threads, items, i => Interlocked.Increment(ref counts[i]));
            Assert.All(counts, c => Assert.Equal(1, c));
        }
    }

    [Fact]
    public void For_ItemThrows_RethrowsOnCaller()
    {
        var e = Record.Exception(() => DecodeThreads.For(2, 64, i => { if (i == 40) throw new InvalidOperationException("item 40"); Thread.SpinWait(100); }));
        Assert.NotNull(e);
        Assert.Contains("item 40", e is AggregateException a ? a.InnerException!.Message : e.Message);
        var counts = new int[10];
        DecodeThreads.For(2, 10, i => Interlocked.Increment(ref counts[i]));   // still usable afterwards
        Assert.All(counts, c => Assert.Equal(1, c));
    }

    [Fact]
    public void For_TwoCallersAtOnce_BothComplete()
    {
        var a = new int[200];
        var b = new int[200];
        Parallel.Invoke(
            () => { for (int r = 0; r < 50; r++) DecodeThreads.For(2, 200, i => Interlocked.Increment(ref a[i])); },
            () => { for (int r = 0; r < 50; r++) DecodeThreads.For(2, 200, i => Interlocked.Increment(ref b[i])); });
        Assert.All(a, c => Assert.Equal(50, c));
        Assert.All(b, c => Assert.Equal(50, c));
    }
}

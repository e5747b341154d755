using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Generation.Serving;

/// <summary>The cache operations continuous batching adds (<see cref="KvCache.AppendRows"/>, <see cref="KvCache.DropFront"/>), on hand-made values.</summary>
public class KvCacheRowsTests
{
    /// <summary>One layer, one slot (B, capacity) holding a scalar per token, sequence on dim 1.</summary>
    private sealed class ScalarCache(int batch, int capacity) : LayeredKvCache(1, batch, capacity, sequenceDim: 1, [[batch, capacity]], CPU, ScalarType.Float32)
    {
        /// <summary>Appends the tokens (B, T) and returns all stored ones (B, Length) as rows of numbers.</summary>
        public float[][] Add(float[,] tokens)
        {
            Write(0, torch.tensor(tokens));
            Advance(tokens.GetLength(1));
            return Read();
        }

        public float[][] Read()
        {
            using var all = Write(0, torch.zeros(BatchSize, 0))[0];                // a view of the Length stored tokens
            return Enumerable.Range(0, BatchSize).Select(b => all[b].data<float>().ToArray()).ToArray();
        }
    }

    [Fact]
    public void AppendRows_ShorterAndLongerRows_RightAlignedWithZerosInFront()
    {
        using var running = new ScalarCache(1, 6);
        running.Add(new float[,] { { 1, 2 } });
        using var joining = new ScalarCache(2, 3);
        joining.Add(new float[,] { { 7, 8, 9 }, { 4, 5, 6 } });

        running.AppendRows(joining);

        Assert.Equal(3, running.BatchSize);
        Assert.Equal(3, running.Length);
        Assert.Equal(6, running.Capacity);
        var rows = running.Read();
        Assert.Equal(new float[] { 0, 1, 2 }, rows[0]);
        Assert.Equal(new float[] { 7, 8, 9 }, rows[1]);
        Assert.Equal(new float[] { 4, 5, 6 }, rows[2]);
        Assert.Equal(new float[] { 3, 4, 9 }, running.Add(new float[,] { { 3 }, { 4 }, { 9 } }).Select(r => r[^1]).ToArray());
    }

    [Fact]
    public void DropFront_TwoSlots_RestMovesToTheFront()
    {
        using var cache = new ScalarCache(2, 5);
        cache.Add(new float[,] { { 1, 2, 3, 4 }, { 5, 6, 7, 8 } });
        cache.DropFront(2);
        Assert.Equal(2, cache.Length);
        var rows = cache.Read();
        Assert.Equal(new float[] { 3, 4 }, rows[0]);
        Assert.Equal(new float[] { 7, 8 }, rows[1]);
    }

    [Fact]
    public void AppendRows_BeyondCapacity_Throws()
    {
        using var running = new ScalarCache(1, 2);
        running.Add(new float[,] { { 1 } });
        using var joining = new ScalarCache(1, 3);
        joining.Add(new float[,] { { 1, 2, 3 } });
        Assert.Throws<GenerationException>(() => running.AppendRows(joining));
    }
}

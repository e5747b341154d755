using SharpSeek.Data;

namespace SharpSeek.Tests.Data;

public class TokenDatasetBatchSourceTests
{
    private static string MakeData(TempDir dir)
    {
        string input = dir.File("corpus.txt", string.Concat(Enumerable.Range(0, 300).Select(i => (char)('a' + i * 7 % 26))));
        string outDir = Path.Combine(dir.Path, "data");
        TokenDataPreparer.Prepare(new PrepareOptions { Input = input, OutDir = outDir }, new TestTokenizerFactory());
        return outDir;
    }

    [Fact]
    public void SampleBatch_SameSeed_MatchesInMemoryTokenArraySource()
    {
        using var dir = new TempDir();
        using var source = TokenDatasetBatchSource.Open(MakeData(dir), seed: 5);
        var train = Enumerable.Range(0, (int)source.Dataset.Train.Length).Select(i => (int)source.Dataset.Train[i]).ToArray();
        var val = Enumerable.Range(0, (int)source.Dataset.Val.Length).Select(i => (int)source.Dataset.Val[i]).ToArray();
        var memory = new TokenArrayBatchSource(train, val, source.VocabSize, seed: 5);
        foreach (var split in new[] { DataSplit.Train, DataSplit.Val, DataSplit.Train })
            Assert.Equal(memory.SampleBatch(split, 3, 8).Inputs.data<long>().ToArray(), source.SampleBatch(split, 3, 8).Inputs.data<long>().ToArray());
    }

    [Fact]
    public void RestoreState_AfterSaving_RepeatsTheNextBatches()
    {
        using var dir = new TempDir();
        using var source = TokenDatasetBatchSource.Open(MakeData(dir), seed: 9);
        source.SampleBatch(DataSplit.Train, 2, 4);
        string state = source.SaveState();
        var next = source.SampleBatch(DataSplit.Train, 2, 4).Targets.data<long>().ToArray();
        source.RestoreState(state);
        Assert.Equal(next, source.SampleBatch(DataSplit.Train, 2, 4).Targets.data<long>().ToArray());
    }

    [Fact]
    public void SampleBatch_BlockLongerThanVal_ThrowsDataException()
    {
        using var dir = new TempDir();
        using var source = TokenDatasetBatchSource.Open(MakeData(dir), seed: 1);
        var e = Assert.Throws<DataException>(() => source.SampleBatch(DataSplit.Val, 1, 30));   // val: 30 tokens
        Assert.Contains("30 tokens", e.Message);
    }
}

using System.Text.Json;
using SharpSeek.Data;
using static TorchSharp.torch;

namespace SharpSeek.Data;

/// <summary>
/// An <see cref="IBatchSource"/> over a prepared, memory-mapped <see cref="TokenDataset"/> (nanoGPT's <c>get_batch</c>), one seeded
/// <see cref="BatchRng"/> per split so training batches are reproducible and resumable and evaluation never disturbs them.
/// </summary>
public sealed class TokenDatasetBatchSource : IBatchSource, IDisposable
{
    private readonly TokenDataset _data;
    private BatchRng _train, _val;

    public TokenDatasetBatchSource(TokenDataset data, ulong seed)
    {
        _data = data;
        _train = new BatchRng(seed);
        _val = new BatchRng(ValSeed(seed));
    }

    /// <summary>Opens the data folder <paramref name="dir"/> (train.bin, val.bin, meta.json from <c>sharpseek data prepare</c>).</summary>
    public static TokenDatasetBatchSource Open(string dir, ulong seed) => new(TokenDataset.Open(dir), seed);

    private static ulong ValSeed(ulong seed) => seed ^ 0x5EED5EED5EED5EEDUL;

    public TokenDataset Dataset => _data;
    public int VocabSize => _data.Meta.VocabSize;

    public long TokenCount(DataSplit split) => Split(split).Length;

    private TokenSplit Split(DataSplit split) => split == DataSplit.Train ? _data.Train : _data.Val;

    public (Tensor Inputs, Tensor Targets) SampleBatch(DataSplit split, int batchSize, int blockSize) =>
        Split(split).SampleBatch(batchSize, blockSize, split == DataSplit.Train ? _train : _val);   // (B, T) each

    public void Reseed(DataSplit split, ulong seed)
    {
        if (split == DataSplit.Train) _train = new BatchRng(seed);
        else _val = new BatchRng(ValSeed(seed));
    }

    public string SaveState() => JsonSerializer.Serialize(new[] { _train.State, _val.State });

    public void RestoreState(string state)
    {
        BatchRngState[]? s;
        try { s = JsonSerializer.Deserialize<BatchRngState[]>(state); }
        catch (JsonException) { s = null; }
        if (s is not { Length: 2 }) throw new CheckpointException($"data position '{state}' is not a saved sampling state");
        _train.State = s[0];
        _val.State = s[1];
    }

    public void Dispose() => _data.Dispose();
}

using System.Globalization;
using SharpSeek.Training.Common;
using static TorchSharp.torch;

namespace SharpSeek.Data;

/// <summary>
/// The trainer's <see cref="IBatchSource"/> over a prepared, memory-mapped data folder (nanoGPT's get_batch on np.memmap). Draws offsets
/// exactly as <see cref="TokenArrayBatchSource"/> does for the same seed, so in-memory and on-disk data give the same batches.
/// </summary>
public sealed class TokenDatasetBatchSource : IBatchSource, IDisposable
{
    private const ulong ValSeedMask = 0x5EED5EED5EED5EEDUL;   // as TokenArrayBatchSource
    private readonly TokenDataset _data;
    private readonly SplitMix64 _trainRng, _valRng;

    public TokenDatasetBatchSource(TokenDataset data, ulong seed)
    {
        _data = data;
        _trainRng = new SplitMix64(seed);
        _valRng = new SplitMix64(seed ^ ValSeedMask);
    }

    /// <summary>Opens <paramref name="dir"/> (see <see cref="TokenDataset.Open"/>).</summary>
    public static TokenDatasetBatchSource Open(string dir, ulong seed) => new(TokenDataset.Open(dir), seed);

    public TokenDataset Dataset => _data;
    public int VocabSize => _data.Meta.VocabSize;

    public long TokenCount(DataSplit split) => Split(split).Length;

    public (Tensor Inputs, Tensor Targets) SampleBatch(DataSplit split, int batchSize, int blockSize)
    {
        var data = Split(split);
        data.EnsureFits(blockSize);
        var rng = split == DataSplit.Train ? _trainRng : _valRng;
        var offsets = new long[batchSize];
        for (int b = 0; b < batchSize; b++) offsets[b] = rng.NextLong(data.Length - blockSize);
        return data.Batch(offsets, blockSize);                                                   // (B, T) each
    }

    public void Reseed(DataSplit split, ulong seed)
    {
        if (split == DataSplit.Train) _trainRng.State = seed;
        else _valRng.State = seed ^ ValSeedMask;
    }

    public string SaveState() => $"{_trainRng.State.ToString(CultureInfo.InvariantCulture)} {_valRng.State.ToString(CultureInfo.InvariantCulture)}";

    public void RestoreState(string state)
    {
        var parts = state.Split(' ');
        if (parts.Length != 2 || !ulong.TryParse(parts[0], CultureInfo.InvariantCulture, out var t) || !ulong.TryParse(parts[1], CultureInfo.InvariantCulture, out var v))
            throw new CheckpointException($"data position '{state}' is not a saved sampling state");
        _trainRng.State = t;
        _valRng.State = v;
    }

    private TokenSplit Split(DataSplit split) => split == DataSplit.Train ? _data.Train : _data.Val;

    public void Dispose() => _data.Dispose();
}

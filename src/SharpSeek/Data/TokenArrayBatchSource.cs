using System.Globalization;
using static TorchSharp.torch;

namespace SharpSeek.Data;

/// <summary>An <see cref="IBatchSource"/> over token arrays held in memory (tests, small corpora, <c>sharpseek eval</c> on a text).</summary>
public sealed class TokenArrayBatchSource : IBatchSource
{
    private readonly int[] _train, _val;
    private readonly SplitMix64 _trainRng, _valRng;

    public int VocabSize { get; }

    public TokenArrayBatchSource(int[] train, int[] val, int vocabSize, ulong seed)
    {
        _train = train; _val = val; VocabSize = vocabSize;
        _trainRng = new SplitMix64(seed);
        _valRng = new SplitMix64(seed ^ 0x5EED5EED5EED5EEDUL);
    }

    /// <summary>Splits <paramref name="tokens"/> into the first <paramref name="trainFraction"/> for training and the rest for validation (nanoGPT: 0.9).</summary>
    public static TokenArrayBatchSource Split(int[] tokens, int vocabSize, double trainFraction, ulong seed)
    {
        int n = (int)(tokens.Length * trainFraction);
        return new TokenArrayBatchSource(tokens[..n], tokens[n..], vocabSize, seed);
    }

    public long TokenCount(DataSplit split) => Data(split).Length;

    /// <summary>The tokens of <paramref name="split"/>, in order.</summary>
    public IReadOnlyList<int> Tokens(DataSplit split) => Data(split);

    private int[] Data(DataSplit split) => split == DataSplit.Train ? _train : _val;
    private SplitMix64 Rng(DataSplit split) => split == DataSplit.Train ? _trainRng : _valRng;

    public (Tensor Inputs, Tensor Targets) SampleBatch(DataSplit split, int batchSize, int blockSize)
    {
        var data = Data(split);
        if (data.Length < blockSize + 1)
            throw new DataException($"the {split.ToString().ToLowerInvariant()} split has {data.Length} tokens, fewer than block_size + 1 = {blockSize + 1}");
        var x = new long[batchSize * blockSize];
        var y = new long[batchSize * blockSize];
        var rng = Rng(split);
        for (int b = 0; b < batchSize; b++)
        {
            long start = rng.NextLong(data.Length - blockSize);
            for (int t = 0; t < blockSize; t++)
            {
                x[b * blockSize + t] = data[start + t];
                y[b * blockSize + t] = data[start + t + 1];
            }
        }
        return (tensor(x, [batchSize, blockSize]), tensor(y, [batchSize, blockSize]));   // (B, T)
    }

    public void Reseed(DataSplit split, ulong seed) => Rng(split).State = split == DataSplit.Train ? seed : seed ^ 0x5EED5EED5EED5EEDUL;

    public string SaveState() => $"{_trainRng.State.ToString(CultureInfo.InvariantCulture)} {_valRng.State.ToString(CultureInfo.InvariantCulture)}";

    public void RestoreState(string state)
    {
        var parts = state.Split(' ');
        if (parts.Length != 2 || !ulong.TryParse(parts[0], CultureInfo.InvariantCulture, out var t) || !ulong.TryParse(parts[1], CultureInfo.InvariantCulture, out var v))
            throw new CheckpointException($"data position '{state}' is not a saved sampling state");
        _trainRng.State = t; _valRng.State = v;
    }
}

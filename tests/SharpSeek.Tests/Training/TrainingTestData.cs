using SharpSeek.Training;
using SharpSeek.Data;

namespace SharpSeek.Tests.Training;

/// <summary>Small corpora and configs shared by the training tests.</summary>
internal static class TrainingTestData
{
    /// <summary>A learnable character stream: a short repeated sentence, as ids 0..V-1 (V = distinct characters).</summary>
    public static (int[] Tokens, int Vocab) Corpus()
    {
        const string text = "the quick brown fox jumps over the lazy dog. ";
        var chars = text.Distinct().OrderBy(ch => ch).ToList();
        var tokens = Enumerable.Range(0, 40).SelectMany(_ => text).Select(ch => chars.IndexOf(ch)).ToArray();
        return (tokens, chars.Count);
    }

    public static TokenArrayBatchSource Data(ulong seed = 1)
    {
        var (tokens, vocab) = Corpus();
        return TokenArrayBatchSource.Split(tokens, vocab, 0.9, seed);
    }

    public static TrainConfig Config(string outDir) => new()
    {
        Arch = "tiny", NLayer = 1, NHead = 1, NEmbd = 16, BatchSize = 4, BlockSize = 16, MaxSteps = 8,
        Lr = 3e-3, MinLr = 3e-4, WarmupSteps = 2, EvalInterval = 4, EvalIters = 2, LogInterval = 1,
        Dropout = 0.1, KeepLast = 2, OutDir = outDir, Threads = 1, Precision = "fp32",   // the same on every CPU
    };

    public static ModelBuilder Factory(double dropout = 0.1) =>
        dir => dir is null ? new TinyLM(32, 16, dropout) : TinyLM.Load(dir, dropout);

    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sharpseek-train-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

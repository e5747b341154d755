using System.Text;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Generation;

/// <summary>Test tokenizer: one id per UTF-8 byte (256 ids), so multi-byte characters span several tokens.</summary>
internal sealed class ByteTokenizer(int? eosId = null) : ITextTokenizer
{
    public int VocabSize => 256;
    public IReadOnlyList<int> Encode(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
    public string Decode(IEnumerable<int> ids) => Encoding.UTF8.GetString(ids.Select(i => (byte)i).ToArray());
    public int? BosId => null;
    public int? EosId => eosId;
    public int? PadId => null;
}

/// <summary>
/// The tiny random-weight models every generation test runs on, one per model family. Tests create models only through
/// <see cref="Create"/>, so a change of the model API touches this one place.
/// </summary>
internal static class TestModels
{
    public const string Gpt2 = "gpt2", DeepSeek = "deepseek";

    /// <summary>
    /// A tiny <paramref name="family"/> model in eval mode with random weights from <paramref name="seed"/>: "gpt2" (2 layers,
    /// 2 heads, C = 32) or "deepseek" (DeepSeek-V3: MLA with compressed queries, layer 0 dense, layer 1 MoE with 4 routed
    /// experts top-2 in 2 groups + 1 shared, no MTP; configs/deepseek-tiny.json shrunk). Init std 0.2 keeps greedy free of near-ties.
    /// </summary>
    public static CausalLM Create(string family, int vocabSize = 256, int positions = 64, long seed = 7)
    {
        torch.manual_seed(seed);
        CausalLM model = family switch
        {
            Gpt2 => new Gpt2LMHeadModel(new Gpt2Config
            {
                VocabSize = vocabSize, NPositions = positions, NEmbd = 32, NLayer = 2, NHead = 2, InitializerRange = 0.2,
            }),
            DeepSeek => new DeepSeekV3ForCausalLM(new DeepSeekV3Config
            {
                VocabSize = vocabSize, MaxPositionEmbeddings = positions, HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16,
                NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 2, FirstKDenseReplace = 1,
                NRoutedExperts = 4, NSharedExperts = 1, NumExpertsPerTok = 2, NGroup = 2, TopkGroup = 1,
                KvLoraRank = 16, QLoraRank = 16, QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8,
                NumNextnPredictLayers = 0, InitializerRange = 0.2,
            }),
            _ => throw new ArgumentException($"unknown model family '{family}'", nameof(family)),
        };
        model.eval();
        return model;
    }
}

/// <summary>Test model whose next-token log-probabilities depend only on the last token: logits[t] = table[ids[t]].</summary>
internal sealed class BigramCausalLM(float[,] table) : CausalLM(nameof(BigramCausalLM))
{
    private readonly Tensor _table = torch.tensor(table).DetachFromDisposeScope();   // (V, V)

    public override int VocabSize => table.GetLength(0);
    public override int HiddenSize => table.GetLength(0);
    public override int MaxSequenceLength => 64;
    public override string ModelType => "bigram";
    public override Device Device => CPU;
    public override Projection OutputHead => throw new NotSupportedException();

    /// <summary>A table where each row is log of the given probabilities (missing entries get a tiny probability).</summary>
    public static BigramCausalLM FromProbabilities(int vocab, params (int From, int To, double P)[] entries)
    {
        var t = new float[vocab, vocab];
        for (int i = 0; i < vocab; i++) for (int j = 0; j < vocab; j++) t[i, j] = -20f;
        foreach (var (from, to, p) in entries) t[from, to] = (float)Math.Log(p);
        return new BigramCausalLM(t);
    }

    public override CausalLMOutput forward(CausalLMInput input)
    {
        var inputIds = input.InputIds;
        if (input.Cache is CountingCache c) c.Advance((int)inputIds.shape[1]);
        var logits = _table.index_select(0, inputIds.reshape(-1)).view(inputIds.shape[0], inputIds.shape[1], -1);   // (B, T, V)
        return new CausalLMOutput(logits) { LastHiddenState = logits.alias() };
    }

    public override KvCache CreateKvCache(int batchSize, int capacity) => new CountingCache(batchSize, capacity);

    public override void SavePretrained(string directory) => throw new NotSupportedException();

    private sealed class CountingCache(int batch, int capacity) : KvCache
    {
        public override int Capacity => capacity;
        public override int BatchSize => batch;
        public override long BytesPerToken => 0;
        public void Advance(int t) => Length += t;
        public override void Reorder(Tensor rowIndices) { }
        public override void Dispose() { }
    }
}

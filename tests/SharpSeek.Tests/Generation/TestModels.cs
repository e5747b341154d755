using System.Text;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using TorchSharp;
using TorchSharp.Modules;
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

/// <summary>Test model: tiny one-block pre-LN transformer (2 heads) with learned positions and its own KV cache; random init.</summary>
internal sealed class TinyCausalLM : CausalLM
{
    private const int Embd = 32, Heads = 2;
    private readonly Embedding _wte, _wpe;
    private readonly LayerNorm _ln1, _ln2, _lnF;
    private readonly Linear _qkv, _proj, _fc, _out;
    private readonly Projection _head;

    public TinyCausalLM(int vocabSize = 256, int positions = 64, long seed = 1234) : base(nameof(TinyCausalLM))
    {
        torch.manual_seed(seed);
        VocabSize = vocabSize;
        MaxSequenceLength = positions;
        _wte = nn.Embedding(vocabSize, Embd);
        _wpe = nn.Embedding(positions, Embd);
        _ln1 = nn.LayerNorm(Embd);
        _ln2 = nn.LayerNorm(Embd);
        _lnF = nn.LayerNorm(Embd);
        _qkv = nn.Linear(Embd, 3 * Embd);
        _proj = nn.Linear(Embd, Embd);
        _fc = nn.Linear(Embd, 4 * Embd);
        _out = nn.Linear(4 * Embd, Embd);
        _head = new Projection(Embd, vocabSize);
        RegisterComponents();
        eval();
    }

    public override int VocabSize { get; }
    public override int HiddenSize => Embd;
    public override int MaxSequenceLength { get; }
    public override string ModelType => "tiny";
    public override Device Device => CPU;
    public override Projection OutputHead => _head;
    public int ForwardCalls { get; private set; }

    public override CausalLMOutput forward(CausalLMInput input)
    {
        using var scope = torch.NewDisposeScope();
        Tensor inputIds = input.InputIds;
        Tensor? attentionMask = input.AttentionMask;
        var cache = input.Cache;
        ForwardCalls++;
        long b = inputIds.shape[0], t = inputIds.shape[1];
        int past = cache?.Length ?? 0;
        var pos = attentionMask is null
            ? torch.arange(past, past + t, dtype: ScalarType.Int64).expand(b, t)
            : (attentionMask.cumsum(1) - 1).clamp_min(0).narrow(1, past, t);                          // (B, T)
        var x = _wte.call(inputIds) + _wpe.call(pos);                                                   // (B, T, C)
        var qkv = _qkv.call(_ln1.call(x)).view(b, t, 3, Heads, Embd / Heads).permute(2, 0, 3, 1, 4);    // (3, B, H, T, D)
        Tensor q = qkv[0], k = qkv[1], v = qkv[2];
        if (cache is TinyKvCache c) (k, v) = c.Append(k, v);                                            // (B, H, S, D)
        long s = k.shape[2];
        var qi = torch.arange(past, past + t).view(t, 1);
        var kj = torch.arange(s).view(1, s);
        var allowed = (kj <= qi).view(1, 1, t, s);                                                      // causal
        if (attentionMask is not null)
            allowed = allowed.logical_and(attentionMask.narrow(1, 0, s).to(ScalarType.Bool).view(b, 1, 1, s))
                .logical_or((kj == qi).view(1, 1, t, s));                                              // pad queries see themselves
        var y = nn.functional.scaled_dot_product_attention(q, k, v, allowed.expand(b, Heads, t, s));   // (B, H, T, D)
        x = x + _proj.call(y.transpose(1, 2).reshape(b, t, Embd));                                     // (B, T, C)
        x = x + _out.call(nn.functional.gelu(_fc.call(_ln2.call(x))));
        var h = _lnF.call(x);                                                                           // (B, T, C)
        return new CausalLMOutput(_head.call(h).MoveToOuterDisposeScope()) { LastHiddenState = h.MoveToOuterDisposeScope() };   // (B, T, V)
    }

    public override KvCache CreateKvCache(int batchSize, int capacity) => new TinyKvCache(batchSize, capacity, Heads, Embd / Heads);

    public override void SavePretrained(string directory) => throw new NotSupportedException();
}

internal sealed class TinyKvCache : KvCache
{
    private Tensor _k, _v;                                                     // (B, H, capacity, D)

    public TinyKvCache(int batch, int capacity, int heads, int headDim)
    {
        _k = torch.zeros(batch, heads, capacity, headDim).DetachFromDisposeScope();
        _v = torch.zeros(batch, heads, capacity, headDim).DetachFromDisposeScope();
    }

    public override int Capacity => (int)_k.shape[2];
    public override int BatchSize => (int)_k.shape[0];
    public override long BytesPerToken => 2 * _k.shape[1] * _k.shape[3] * 4;

    public (Tensor K, Tensor V) Append(Tensor k, Tensor v)                     // (B, H, T, D) each
    {
        long t = k.shape[2];
        _k.narrow(2, Length, t).copy_(k);
        _v.narrow(2, Length, t).copy_(v);
        Length += (int)t;
        return (_k.narrow(2, 0, Length), _v.narrow(2, 0, Length));
    }

    public override void Reorder(Tensor rowIndices)
    {
        var k = _k.index_select(0, rowIndices).DetachFromDisposeScope();
        var v = _v.index_select(0, rowIndices).DetachFromDisposeScope();
        _k.Dispose(); _v.Dispose();
        _k = k; _v = v;
    }

    public override void Dispose() { _k.Dispose(); _v.Dispose(); }
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

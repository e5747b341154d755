using TorchSharp;
using TorchSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>Per-layer intermediate tensors of one forward, for reference tests (names as in the fixtures' expected.safetensors).</summary>
public sealed class DeepSeekTrace : IDisposable
{
    /// <summary>embed_out, block_out.{i}, norm_out, router_weights.{i}: detached copies.</summary>
    public Dictionary<string, Tensor> Tensors { get; } = new(StringComparer.Ordinal);

    /// <summary>Chosen experts (B, T, k) per MoE layer, ordered by descending biased score.</summary>
    public Dictionary<int, Tensor> RoutingIndices { get; } = new();

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
        foreach (var t in RoutingIndices.Values) t.Dispose();
    }
}

/// <summary>
/// The DeepSeek-V3 decoder stack (HF <c>model.</c>): token embedding, <c>num_hidden_layers</c> MLA blocks, final RMSNorm;
/// the multi-token-prediction modules follow the main layers in <c>layers</c>, as in released checkpoints. DeepSeek-AI 2024.
/// </summary>
public sealed class DeepSeekV3Model : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "embed_tokens")] private readonly Embedding _embed;             // (V, D)
    [ComponentName(Name = "layers")] private readonly ModuleList<nn.Module> _layers;     // main blocks, then MTP modules
    [ComponentName(Name = "norm")] private readonly DeepSeekRmsNorm _norm;
    private readonly DeepSeekDecoderLayer[] _blocks;
    private readonly MtpModule[] _mtp;
    private readonly DeepSeekRotaryEmbedding _rope;
    private readonly DeepSeekV3Config _config;

    public DeepSeekV3Model(DeepSeekV3Config c) : base(nameof(DeepSeekV3Model))
    {
        _config = c;
        _embed = nn.Embedding(c.VocabSize, c.HiddenSize);
        _blocks = Enumerable.Range(0, c.NumHiddenLayers).Select(i => new DeepSeekDecoderLayer(c, c.IsMoeLayer(i))).ToArray();
        _mtp = Enumerable.Range(0, c.NumNextnPredictLayers).Select(k => new MtpModule(c, c.IsMoeLayer(c.NumHiddenLayers + k))).ToArray();
        _layers = new ModuleList<nn.Module>(_blocks.Cast<nn.Module>().Concat(_mtp).ToArray());
        _norm = new DeepSeekRmsNorm(c.HiddenSize, c.RmsNormEps);
        _rope = new DeepSeekRotaryEmbedding(c);
        RegisterComponents();
    }

    public IReadOnlyList<DeepSeekDecoderLayer> Blocks => _blocks;
    public IReadOnlyList<MtpModule> Mtp => _mtp;
    public Embedding EmbedTokens => _embed;
    public DeepSeekRmsNorm Norm => _norm;

    /// <summary>Final normalised hidden states (B, T, D) for ids (B, T), positions 0..T-1, no cache.</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = torch.NewDisposeScope();
        return _norm.call(Hidden(ids, null, null, null)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Residual stream after the last main block (B, T, D), before the final norm. With a cache the T tokens follow the
    /// cached ones; <paramref name="attentionMask"/> (B, past + T) marks real tokens (1) and left padding (0).
    /// </summary>
    public Tensor Hidden(Tensor ids, MlaKvCache? cache, Tensor? attentionMask, DeepSeekTrace? trace)
    {
        using var scope = torch.NewDisposeScope();
        long b = ids.shape[0], t = ids.shape[1];
        int past = cache?.Length ?? 0;
        if (cache is not null && cache.BatchSize != b) throw new GenerationException($"input has {b} rows but the KV cache holds {cache.BatchSize}");
        var ctx0 = Context(b, t, past, attentionMask, ids.device);
        foreach (var moe in _blocks.Select(l => l.Moe).OfType<DeepSeekMoe>()) moe.RecordRouting = trace is not null;

        var h = _embed.call(ids);                                                           // (B, T, D)
        trace?.Tensors.Add("embed_out", h.detach().clone().DetachFromDisposeScope());
        for (int i = 0; i < _blocks.Length; i++)
        {
            h = _blocks[i].call(h, ctx0 with { Layer = i, Cache = cache });              // (B, T, D)
            if (trace is null) continue;
            trace.Tensors.Add($"block_out.{i}", h.detach().clone().DetachFromDisposeScope());
            if (_blocks[i].Moe?.LastRouting is { } routing)
            {
                trace.Tensors.Add($"router_weights.{i}", routing.Weights.clone().DetachFromDisposeScope());
                trace.RoutingIndices.Add(i, routing.Indices.clone().DetachFromDisposeScope());
            }
        }
        if (trace is not null)
        {
            trace.Tensors.Add("norm_out", _norm.call(h).detach().DetachFromDisposeScope());
            foreach (var moe in _blocks.Select(l => l.Moe).OfType<DeepSeekMoe>()) moe.RecordRouting = false;
        }
        cache?.Advance((int)t);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rotary tables and the allowed-keys mask (B, 1, T, S) for T new tokens after <paramref name="past"/> cached ones:
    /// causal by cache slot, padded keys excluded, positions = cumsum(mask) − 1 (or past..past+T−1 without a mask).
    /// A query may always see itself, so padded rows stay finite.
    /// </summary>
    public MlaContext Context(long b, long t, int past, Tensor? attentionMask, Device device)
    {
        long s = past + t;
        Tensor positions;
        var slotQ = torch.arange(past, s, dtype: ScalarType.Int64, device: device).view(-1, 1);   // (T, 1)
        var slotK = torch.arange(0, s, dtype: ScalarType.Int64, device: device).view(1, -1);      // (1, S)
        var allowed = slotK.le(slotQ).view(1, 1, t, s);                                           // (1, 1, T, S)
        if (attentionMask is not null)
        {
            if (attentionMask.dim() != 2 || attentionMask.shape[0] != b || attentionMask.shape[1] != s)
                throw new GenerationException($"attention mask has shape [{string.Join(", ", attentionMask.shape)}], expected [{b}, {s}] (rows, cached + new tokens)");
            var real = attentionMask.to(ScalarType.Int64, device);                                  // (B, S)
            positions = (real.cumsum(1) - 1).clamp_min(0).narrow(1, past, t);                       // (B, T)
            allowed = allowed.logical_and(real.ne(0).view(b, 1, 1, s)).logical_or(slotK.eq(slotQ).view(1, 1, t, s));   // (B, 1, T, S)
        }
        else positions = torch.arange(past, s, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(b, t);      // (B, T)
        if (s > _config.MaxPositionEmbeddings)
            throw new GenerationException($"sequence of {s} tokens exceeds max_position_embeddings ({_config.MaxPositionEmbeddings})");
        var (cos, sin) = _rope.At(positions);                                                     // (B, 1, T, r/2)
        return new MlaContext(cos, sin, allowed, null, 0);
    }
}

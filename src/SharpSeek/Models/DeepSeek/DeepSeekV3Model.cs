using SharpSeek.Models.Common;
using SharpSeek.Quantization;
using SharpSeek.Models.Offload;
using TorchSharp;
using TorchSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// The DeepSeek-V3 decoder stack (HF <c>model.</c>): token embedding, <c>num_hidden_layers</c> MLA blocks, final RMSNorm;
/// the multi-token-prediction modules follow the main layers in <c>layers</c>, as in released checkpoints. DeepSeek-AI 2024.
/// </summary>
public sealed class DeepSeekV3Model : nn.Module
{
    [ComponentName(Name = "embed_tokens")] private Embedding? _embed;                     // (V, D); null once quantized
    private QuantizedWeight? _embedQuantized;                                              // (V, D) quantized table
    [ComponentName(Name = "layers")] private readonly ModuleList<nn.Module> _layers;     // main blocks, then MTP modules
    [ComponentName(Name = "norm")] private readonly DeepSeekRmsNorm _norm;
    private readonly DeepSeekDecoderLayer[] _blocks;
    private readonly MtpModule[] _mtp;
    private readonly DeepSeekRotaryEmbedding _rope;
    private readonly DeepSeekV3Config _config;

    /// <summary>
    /// The stack; layers (main blocks 0..N−1, then MTP modules N..) for which <paramref name="onDisk"/> is true are released
    /// as soon as they are built (<see cref="LayerOffload"/>).
    /// </summary>
    public DeepSeekV3Model(DeepSeekV3Config c, Func<int, bool>? onDisk = null) : base(nameof(DeepSeekV3Model))
    {
        _config = c;
        _embed = nn.Embedding(c.VocabSize, c.HiddenSize);
        _blocks = Enumerable.Range(0, c.NumHiddenLayers).Select(i => LayerOffload.Released(new DeepSeekDecoderLayer(c, c.IsMoeLayer(i)), onDisk?.Invoke(i) == true)).ToArray();
        _mtp = Enumerable.Range(0, c.NumNextnPredictLayers).Select(k => c.NumHiddenLayers + k)
            .Select(i => LayerOffload.Released(new MtpModule(c, c.IsMoeLayer(i)), onDisk?.Invoke(i) == true)).ToArray();
        _layers = new ModuleList<nn.Module>(_blocks.Cast<nn.Module>().Concat(_mtp).ToArray());
        _norm = new DeepSeekRmsNorm(c.HiddenSize, c.RmsNormEps);
        _rope = new DeepSeekRotaryEmbedding(c);
        RegisterComponents();
    }

    public IReadOnlyList<DeepSeekDecoderLayer> Blocks => _blocks;
    public IReadOnlyList<MtpModule> Mtp => _mtp;
    public Embedding EmbedTokens => _embed ?? throw new InvalidOperationException("the token embedding is quantized (see QuantizedEmbedTokens)");

    /// <summary>The quantized token embedding, or null while it is float.</summary>
    public QuantizedWeight? QuantizedEmbedTokens => _embedQuantized;

    /// <summary>Token embeddings (B, T, D) of ids (B, T): a float lookup, or the dequantized rows of the quantized table.</summary>
    public Tensor Embed(Tensor ids) => _embedQuantized is null ? _embed!.call(ids) : QuantizedEmbedding.Lookup(_embedQuantized, ids);

    /// <summary>Replaces embed_tokens by <paramref name="table"/> (owned from now on); the float table is unregistered and released.</summary>
    internal void QuantizeEmbedTokens(QuantizedWeight table)
    {
        if (_embed is null) throw new InvalidOperationException("the token embedding is already quantized");
        register_module("embed_tokens", null!);
        _embed.Dispose();
        _embed = null;
        _embedQuantized = table;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { _embedQuantized?.Dispose(); _embedQuantized = null; }
        base.Dispose(disposing);
    }
    public DeepSeekRmsNorm Norm => _norm;

    /// <summary>Layers on disk (main blocks, then MTP modules), read for their forward; null when the model is fully resident.</summary>
    internal LayerOffload? Offload { get; set; }

    /// <summary>Dtype of the blocks' matmuls in mixed precision; null = the weights' own.</summary>
    internal ScalarType? ComputeDType
    {
        set
        {
            foreach (var block in _blocks) block.Attention.ComputeDType = value;
            foreach (var m in _mtp) m.Block.Attention.ComputeDType = value;
        }
    }

    /// <summary>
    /// Residual stream after the last main block (B, T, D), before the final norm. With a cache the T tokens follow the
    /// cached ones; <paramref name="ctx"/> holds positions, mask and the forward's collectors. <paramref name="hidden"/>,
    /// if given, receives the embeddings and the output of every block but the last.
    /// </summary>
    internal Tensor Hidden(Tensor ids, MlaContext ctx, ModelTrace? trace, List<Tensor>? hidden)
    {
        using var scope = torch.NewDisposeScope();
        long b = ids.shape[0];
        if (ctx.Cache is { } cache && cache.BatchSize != b) throw new GenerationException($"input has {b} rows but the KV cache holds {cache.BatchSize}");
        foreach (var moe in _blocks.Select(l => l.Moe).OfType<DeepSeekMoe>()) moe.RecordRouting = trace is not null;

        var h = Embed(ids);                                                                 // (B, T, D)
        trace?.Add("embed_out", h);
        hidden?.Add(h);
        for (int i = 0; i < _blocks.Length; i++)
        {
            using (Offload?.Enter(i)) h = _blocks[i].call(h, ctx with { Layer = i });     // (B, T, D)
            if (i < _blocks.Length - 1) hidden?.Add(h);
            if (trace is null) continue;
            trace.Add($"block_out.{i}", h);
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
        ctx.Cache?.Advance((int)ids.shape[1]);
        OutputTensors.MoveOut([h, .. hidden ?? []]);
        return h;
    }

    /// <summary>
    /// Rotary tables and the allowed-keys mask (B, 1, T, S) for T new tokens after <paramref name="past"/> cached ones:
    /// causal by cache slot, padded keys excluded, positions = cumsum(mask) − 1 (or past..past+T−1 without a mask); with
    /// segment ids block-diagonal per packed sample, positions restarting per segment.
    /// A query may always see itself, so padded rows stay finite.
    /// </summary>
    internal MlaContext Context(long b, long t, int past, Tensor? attentionMask, Tensor? positionIds, Device device, Tensor? segmentIds = null)
    {
        long s = past + t;
        var (positions, allowed) = AttentionMasks.Build(b, t, past, attentionMask, positionIds, device, segmentIds);   // (1|B, T), (1|B, 1, T, S)
        positions = positions.expand(b, t);                                                        // (B, T)
        if (s > _config.MaxPositionEmbeddings)
            throw new GenerationException($"sequence of {s} tokens exceeds max_position_embeddings ({_config.MaxPositionEmbeddings})");
        var (cos, sin) = _rope.At(positions);                                                     // (B, 1, T, r/2)
        return new MlaContext(cos, sin, allowed, null, 0);
    }
}

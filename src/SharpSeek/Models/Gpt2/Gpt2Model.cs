using SharpSeek.Kernels;
using SharpSeek.Models.Common;
using SharpSeek.Quantization;
using SharpSeek.Models.Offload;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.Gpt2;

/// <summary>GPT-2 trunk (HF <c>GPT2Model</c>): token + learned position embeddings, blocks, final LayerNorm. Radford et al. 2019.</summary>
public sealed class Gpt2Model : nn.Module
{
    [ComponentName(Name = "wte")] private Embedding? _wte;                          // (V, C); null once quantized
    private QuantizedWeight? _wteQuantized;                                              // (V, C) quantized table
    [ComponentName(Name = "wpe")] private readonly Embedding _wpe;                 // (P, C)
    [ComponentName(Name = "h")] private readonly ModuleList<Gpt2Block> _blocks;
    [ComponentName(Name = "ln_f")] private readonly LayerNorm _lnF;
    private readonly Gpt2Config _config;

    /// <summary>The trunk; blocks for which <paramref name="onDisk"/> is true are released as soon as they are built (<see cref="LayerOffload"/>).</summary>
    public Gpt2Model(Gpt2Config config, Func<int, bool>? onDisk = null) : base(nameof(Gpt2Model))
    {
        _config = config;
        _wte = nn.Embedding(config.VocabSize, config.NEmbd);
        _wpe = nn.Embedding(config.NPositions, config.NEmbd);
        _blocks = nn.ModuleList(Enumerable.Range(0, config.NLayer).Select(i => LayerOffload.Released(new Gpt2Block(config), onDisk?.Invoke(i) == true)).ToArray());
        _lnF = nn.LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        RegisterComponents();
    }

    /// <summary>Dtype of every block's matmuls in mixed-precision training; null = the weights' own.</summary>
    internal ScalarType? ComputeDType { set { foreach (var block in _blocks) block.ComputeDType = value; } }

    /// <summary>Blocks on disk, read for their forward; null when the model is fully resident.</summary>
    internal LayerOffload? Offload { get; set; }

    /// <summary>Token embedding matrix (V, C), also the tied output head.</summary>
    public Parameter TokenEmbedding => _wte?.weight ?? throw new InvalidOperationException("the token embedding is quantized (see QuantizedTokenEmbedding)");

    /// <summary>The quantized token embedding (also the tied head's weight), or null while it is float.</summary>
    public QuantizedWeight? QuantizedTokenEmbedding => _wteQuantized;

    /// <summary>Device and dtype of the float weights (the position embedding is never quantized).</summary>
    internal Parameter PositionEmbedding => _wpe.weight!;

    /// <summary>
    /// Replaces wte by <paramref name="table"/>: lookups dequantize the rows they read, a tied head applies it with the
    /// quantized kernel; the float table is unregistered and released.
    /// </summary>
    internal void QuantizeTokenEmbedding(QuantizedWeight table)
    {
        if (_wte is null) throw new InvalidOperationException("the token embedding is already quantized");
        register_module("wte", null!);
        _wte.Dispose();
        _wte = null;
        _wteQuantized = table;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { _wteQuantized?.Dispose(); _wteQuantized = null; }
        base.Dispose(disposing);
    }

    /// <summary>
    /// Whether the step may take <see cref="DecodeStep"/>: one new token of batch 1 with a float32 CPU cache, no grad, eval mode,
    /// no mask, positions, packing or extra outputs, and every block able to (no mixed-precision compute dtype).
    /// </summary>
    private bool CanDecodeStep(CausalLMInput input, Gpt2KvCache? cache, ModelTrace? trace, long b, long t) =>
        b == 1 && t == 1 && cache is { BatchSize: 1 } && trace is null && !training && !torch.is_grad_enabled()
        && input.AttentionMask is null && input.PositionIds is null && input.SegmentIds is null
        && !input.OutputHiddenStates && !input.OutputAttentions
        && _wpe.weight!.dtype == ScalarType.Float32 && _wpe.weight.device_type == DeviceType.CPU
        && cache.Storage(0, 0).dtype == ScalarType.Float32 && _blocks.All(block => block.CanDecodeStep);

    /// <summary>
    /// The decode fast path: one token through the trunk on raw float32 rows (<see cref="DecodeOps"/>, the blocks'
    /// DecodeStep), with the projections still called as modules (so adapters and substituted weights apply): ~5 LibTorch
    /// calls per layer instead of ~30. Same maths as the general path; returns (ln_f output, residual) as (1, 1, C), or
    /// null for a token id outside the embedding (the general path reports it).
    /// </summary>
    private unsafe (Tensor Hidden, Tensor Residual)? DecodeStep(Tensor ids, Gpt2KvCache cache, int pos)
    {
        long id = ids.dtype == ScalarType.Int64 ? ids.item<long>() : ids.to(ScalarType.Int64).item<long>();
        if (id < 0 || id >= (_wteQuantized?.Rows ?? _wte!.weight!.shape[0])) return null;
        int c = _config.NEmbd;
        var x = torch.empty(1, 1, c);                                     // (1, 1, C) residual stream
        var h = torch.empty(1, 1, c);                                     // (1, 1, C) LayerNorm output
        var a = torch.empty(1, 1, c);                                     // (1, 1, C) attention output
        var scores = torch.empty((long)_config.NHead * cache.Capacity);   // (H · capacity) attention scratch
        var row = _wteQuantized is null ? _wte!.weight! : DecodeOps.Float32(QuantizedEmbedding.Lookup(_wteQuantized, ids));   // (V, C) or (1, 1, C)
        float* xp = DecodeOps.Address(x), te = DecodeOps.Address(row) + (_wteQuantized is null ? id * c : 0), pe = DecodeOps.Address(_wpe.weight!) + (long)pos * c;
        for (int i = 0; i < c; i++) xp[i] = te[i] + pe[i];
        float* sp = DecodeOps.Address(scores);
        for (int l = 0; l < _blocks.Count; l++)
            using (Offload?.Enter(l)) _blocks[l].DecodeStep(xp, h, a, cache, l, pos, sp);   // a disk layer is read for its step, as in forward
        cache.Advance(1);
        var y = torch.empty(1, 1, c);                                     // (1, 1, C)
        DecodeOps.LayerNorm(xp, DecodeOps.Address(_lnF.weight!), DecodeOps.Address(_lnF.bias!), DecodeOps.Address(y), c, _config.LayerNormEpsilon);
        return (y, x);
    }

    /// <summary>
    /// The trunk's part of <see cref="Gpt2LMHeadModel"/>'s forward: hidden states after ln_f (B, T, C) for
    /// <c>input.InputIds</c> (B, T), with the cache, mask and positions of <paramref name="input"/>; fills the optional
    /// outputs it asks for (hidden states, attention probabilities, trace).
    /// </summary>
    internal (Tensor Hidden, Tensor Residual, List<Tensor>? HiddenStates, List<Tensor>? Attentions) forward(CausalLMInput input, ModelTrace? trace)
    {
        using var scope = torch.NewDisposeScope();
        var ids = input.InputIds;
        if (input.Cache is not null and not Gpt2KvCache) throw new ArgumentException("GPT-2 needs a Gpt2KvCache (use CreateKvCache)");
        var cache = (Gpt2KvCache?)input.Cache;
        long b = ids.shape[0], t = ids.shape[1];
        int past = cache?.Length ?? 0;
        if (past + t > _config.NPositions)
            throw new GenerationException($"sequence of {past + t} tokens is longer than the model's context (n_positions = {_config.NPositions})");

        if (CanDecodeStep(input, cache, trace, b, t) && DecodeStep(input.InputIds, cache!, past) is var (fastHidden, fastResidual))
        {
            OutputTensors.MoveOut([fastHidden, fastResidual]);
            return (fastHidden, fastResidual, null, null);
        }

        var (positions, allowed) = AttentionMasks.Build(b, t, past, input.AttentionMask, input.PositionIds, ids.device, input.SegmentIds);   // (1|B, T), (1|B, 1, T, L+T)
        // Without padding or packing, SDPA's own causal mask serves a prefill and a one-token step; only several new tokens after cached ones need it.
        Tensor? mask = input.AttentionMask is not null || input.SegmentIds is not null || (past > 0 && t > 1) ? allowed : null;

        var tokens = _wteQuantized is null ? _wte!.call(ids) : QuantizedEmbedding.Lookup(_wteQuantized, ids);   // (B, T, C)
        var x = tokens + _wpe.call(positions);                                         // (B, T, C)
        if (training && _config.EmbdPdrop > 0) x = nn.functional.dropout(x, _config.EmbdPdrop, true);
        trace?.Add("embed_out", x);
        var hidden = input.OutputHiddenStates ? new List<Tensor> { x } : null;
        var probabilities = input.OutputAttentions ? new List<Tensor>() : null;
        for (int i = 0; i < _blocks.Count; i++)
        {
            using (Offload?.Enter(i)) x = _blocks[i].forward(x, cache, i, mask, probabilities);  // (B, T, C)
            trace?.Add($"block_out.{i}", x);
            if (i < _blocks.Count - 1) hidden?.Add(x);
        }
        cache?.Advance((int)t);
        var residual = x;
        x = _lnF.call(x);
        trace?.Add("ln_f_out", x);
        hidden?.Add(x);
        var attentions = probabilities is null ? null : OutputTensors.Adopt(probabilities);
        OutputTensors.MoveOut([x, residual, .. hidden ?? [], .. attentions ?? []]);
        return (x, residual, hidden, attentions);
    }
}

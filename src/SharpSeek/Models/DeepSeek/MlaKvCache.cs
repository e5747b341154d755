using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// Compressed MLA KV cache (DeepSeek-V2 §2.1.2): per layer only the normalised latent c_kv (B, capacity, kv_lora_rank)
/// and the shared rotated key k_pe (B, capacity, qk_rope_head_dim), preallocated.
/// </summary>
public sealed class MlaKvCache : KvCache
{
    private readonly Tensor[] _ckv;   // per layer (B, capacity, kl)
    private readonly Tensor[] _kpe;   // per layer (B, capacity, r)
    private readonly int _capacity;
    private int _batch;

    public MlaKvCache(int layers, int batchSize, int capacity, int kvLoraRank, int ropeDim, Device device, ScalarType dtype = ScalarType.Float32)
    {
        if (batchSize <= 0) throw new GenerationException($"KV cache batch size ({batchSize}) must be positive");
        if (capacity <= 0) throw new GenerationException($"KV cache capacity ({capacity}) must be positive");
        _capacity = capacity; _batch = batchSize;
        _ckv = new Tensor[layers]; _kpe = new Tensor[layers];
        for (int l = 0; l < layers; l++)
        {
            _ckv[l] = torch.zeros(new long[] { batchSize, capacity, kvLoraRank }, dtype, device);
            _kpe[l] = torch.zeros(new long[] { batchSize, capacity, ropeDim }, dtype, device);
        }
        BytesPerToken = (long)layers * (kvLoraRank + ropeDim) * _ckv[0].ElementSize;
    }

    public override int Capacity => _capacity;
    public override int BatchSize => _batch;
    public override long BytesPerToken { get; }

    /// <summary>Total bytes the cache tensors occupy (all layers, rows and capacity).</summary>
    public long AllocatedBytes => _ckv.Sum(t => t.NumberOfElements * t.ElementSize) + _kpe.Sum(t => t.NumberOfElements * t.ElementSize);

    /// <summary>
    /// Writes the T new tokens' c_kv (B, T, kl) and k_pe (B, T, r) of <paramref name="layer"/> after the cached ones and
    /// returns views of all Length + T tokens: (B, S, kl), (B, S, r). <see cref="Advance"/> commits them.
    /// </summary>
    public (Tensor Ckv, Tensor Kpe) Write(int layer, Tensor ckv, Tensor kpe)
    {
        long t = ckv.shape[1];
        if (Length + t > _capacity) throw new GenerationException($"KV cache is full: {Length} + {t} tokens exceed its capacity of {_capacity}");
        using (torch.no_grad())
        {
            _ckv[layer].narrow(1, Length, t).copy_(ckv);
            _kpe[layer].narrow(1, Length, t).copy_(kpe);
        }
        return (_ckv[layer].narrow(1, 0, Length + t), _kpe[layer].narrow(1, 0, Length + t));
    }

    /// <summary>Marks <paramref name="tokens"/> more tokens as stored (called once per forward, after every layer wrote).</summary>
    public void Advance(int tokens) => Length += tokens;

    public override void Reorder(Tensor rowIndices)
    {
        using var idx = rowIndices.to(ScalarType.Int64).to(_ckv[0].device);
        for (int l = 0; l < _ckv.Length; l++)
        {
            var c = _ckv[l].index_select(0, idx); _ckv[l].Dispose(); _ckv[l] = c.DetachFromDisposeScope();   // outlives the caller's step scope
            var k = _kpe[l].index_select(0, idx); _kpe[l].Dispose(); _kpe[l] = k.DetachFromDisposeScope();
        }
        _batch = (int)idx.shape[0];
    }

    public override void Dispose()
    {
        foreach (var t in _ckv) t.Dispose();
        foreach (var t in _kpe) t.Dispose();
    }
}

using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.Gpt2;

/// <summary>Multi-head attention KV cache: per layer, keys and values (B, H, capacity, d), preallocated.</summary>
public sealed class Gpt2KvCache : KvCache
{
    private readonly Tensor[] _keys, _values;
    private int _capacity, _batch;
    private readonly int _heads, _headDim;

    public Gpt2KvCache(Gpt2Config config, int batchSize, int capacity, Device device, ScalarType dtype = ScalarType.Float32)
    {
        _heads = config.NHead; _headDim = config.NEmbd / config.NHead; _capacity = capacity; _batch = batchSize;
        _keys = new Tensor[config.NLayer]; _values = new Tensor[config.NLayer];
        for (int i = 0; i < config.NLayer; i++)
        {
            _keys[i] = torch.zeros([batchSize, _heads, capacity, _headDim], dtype, device);     // (B, H, cap, d)
            _values[i] = torch.zeros([batchSize, _heads, capacity, _headDim], dtype, device);   // (B, H, cap, d)
        }
    }

    public override int Capacity => _capacity;
    public override int BatchSize => _batch;
    public override long BytesPerToken => 2L * _keys.Length * _heads * _headDim * _keys[0].ElementSize;

    /// <summary>Writes the new keys/values (B, H, T, d) of <paramref name="layer"/> at the current length and returns all keys/values so far.</summary>
    internal (Tensor k, Tensor v) Append(int layer, Tensor k, Tensor v)
    {
        int t = (int)k.shape[2];
        if (Length + t > _capacity) throw new GenerationException($"KV cache full: {Length} + {t} tokens exceed its capacity of {_capacity}");
        _keys[layer].narrow(2, Length, t).copy_(k);
        _values[layer].narrow(2, Length, t).copy_(v);
        return (_keys[layer].narrow(2, 0, Length + t), _values[layer].narrow(2, 0, Length + t));   // (B, H, L+T, d)
    }

    /// <summary>Marks <paramref name="t"/> more tokens as stored (after every layer has appended them).</summary>
    internal void Advance(int t) => Length += t;

    public override void Reorder(Tensor rowIndices)
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            var k = _keys[i].index_select(0, rowIndices); _keys[i].Dispose(); _keys[i] = k.DetachFromDisposeScope();
            var v = _values[i].index_select(0, rowIndices); _values[i].Dispose(); _values[i] = v.DetachFromDisposeScope();
        }
        _batch = (int)rowIndices.shape[0];
    }

    public override void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}

using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Models.Gpt2;

/// <summary>Multi-head attention KV cache: per layer, keys and values (B, H, capacity, d), preallocated.</summary>
public sealed class Gpt2KvCache(Gpt2Config config, int batchSize, int capacity, Device device, ScalarType dtype = ScalarType.Float32)
    : LayeredKvCache(config.NLayer, batchSize, capacity, sequenceDim: 2,
        [[batchSize, config.NHead, capacity, config.NEmbd / config.NHead], [batchSize, config.NHead, capacity, config.NEmbd / config.NHead]], device, dtype)
{
    /// <summary>Writes the new keys/values (B, H, T, d) of <paramref name="layer"/> at the current length and returns all keys/values so far (B, H, L+T, d).</summary>
    internal (Tensor k, Tensor v) Append(int layer, Tensor k, Tensor v)
    {
        var all = Write(layer, k, v);
        return (all[0], all[1]);
    }
}

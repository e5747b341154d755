using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// Compressed MLA KV cache (DeepSeek-V2 §2.1.2): per layer only the normalised latent c_kv (B, capacity, kv_lora_rank)
/// and the shared rotated key k_pe (B, capacity, qk_rope_head_dim), preallocated.
/// </summary>
public sealed class MlaKvCache(int layers, int batchSize, int capacity, int kvLoraRank, int ropeDim, Device device, ScalarType dtype = ScalarType.Float32)
    : LayeredKvCache(layers, batchSize, capacity, sequenceDim: 1, [[batchSize, capacity, kvLoraRank], [batchSize, capacity, ropeDim]], device, dtype)
{
    /// <summary>
    /// Writes the T new tokens' c_kv (B, T, kl) and k_pe (B, T, r) of <paramref name="layer"/> after the cached ones and
    /// returns views of all Length + T tokens: (B, S, kl), (B, S, r). <see cref="LayeredKvCache.Advance"/> commits them.
    /// </summary>
    public (Tensor Ckv, Tensor Kpe) Write(int layer, Tensor ckv, Tensor kpe)
    {
        var all = Write(layer, [ckv, kpe]);
        return (all[0], all[1]);
    }
}

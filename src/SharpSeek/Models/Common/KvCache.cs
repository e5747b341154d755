using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>Per-layer keys and values of the tokens seen so far, so decoding runs one new token per step.</summary>
public abstract class KvCache : IDisposable
{
    /// <summary>Number of tokens (positions) stored, the same for every row.</summary>
    public int Length { get; protected set; }

    /// <summary>Most tokens this cache can hold.</summary>
    public abstract int Capacity { get; }

    /// <summary>Rows of the batch.</summary>
    public abstract int BatchSize { get; }

    /// <summary>Bytes of cache written per token per row (all layers).</summary>
    public abstract long BytesPerToken { get; }

    /// <summary>Keeps/duplicates rows: row i of the result is row <paramref name="rowIndices"/>[i] (beam search).</summary>
    public abstract void Reorder(Tensor rowIndices);

    /// <summary>Forgets tokens past <paramref name="length"/> (speculative decoding rolls back rejected tokens).</summary>
    public virtual void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length));
        Length = length;
    }

    /// <summary>
    /// Appends the rows of <paramref name="other"/> after this cache's rows (continuous batching: a prefilled request joins
    /// the running batch). Both are right-aligned at the longer length: row r's tokens end at slot Length − 1, and the slots
    /// in front of a shorter row hold zeros, which the caller's attention mask must exclude. <paramref name="other"/> is
    /// left unchanged.
    /// </summary>
    public virtual void AppendRows(KvCache other) =>
        throw new NotSupportedException($"{GetType().Name} cannot append rows (continuous batching)");

    /// <summary>Forgets the first <paramref name="count"/> slots of every row and moves the rest to the front (drops columns no row attends to).</summary>
    public virtual void DropFront(int count) =>
        throw new NotSupportedException($"{GetType().Name} cannot drop slots (continuous batching)");

    public abstract void Dispose();
}

/// <summary>
/// The preallocated cache skeleton both families share: per layer a few tensors (B, …, capacity, …) with the sequence on
/// <c>sequenceDim</c>; writes go at <see cref="KvCache.Length"/>, <see cref="Advance"/> commits them once every layer wrote.
/// The tensors never belong to a caller's dispose scope (also after <see cref="Reorder"/>).
/// </summary>
public abstract class LayeredKvCache : KvCache
{
    private readonly Tensor[][] _tensors;   // [layer][slot]
    private readonly int _sequenceDim, _capacity;
    private int _batch;

    /// <summary>Zeroed tensors for <c>layers</c> layers; <c>slotShapes</c>: per slot the shape of one layer's tensor, batch first, capacity on <c>sequenceDim</c>.</summary>
    protected LayeredKvCache(int layers, int batchSize, int capacity, int sequenceDim, long[][] slotShapes, Device device, ScalarType dtype)
    {
        if (batchSize <= 0) throw new GenerationException($"KV cache batch size ({batchSize}) must be positive");
        if (capacity <= 0) throw new GenerationException($"KV cache capacity ({capacity}) must be positive");
        _batch = batchSize; _capacity = capacity; _sequenceDim = sequenceDim;
        _tensors = new Tensor[layers][];
        for (int l = 0; l < layers; l++)
            _tensors[l] = slotShapes.Select(s => torch.zeros(s, dtype, device).DetachFromDisposeScope()).ToArray();
    }

    public override int Capacity => _capacity;
    public override int BatchSize => _batch;
    public override long BytesPerToken => _tensors.Sum(layer => layer.Sum(t => t.NumberOfElements / (_batch * (long)_capacity) * t.ElementSize));

    /// <summary>Total bytes the cache tensors occupy (all layers, rows and capacity).</summary>
    public long AllocatedBytes => _tensors.Sum(layer => layer.Sum(t => t.NumberOfElements * t.ElementSize));

    /// <summary>
    /// Writes the T new tokens' entries (one per slot, T on the sequence dim) of <paramref name="layer"/> after the stored ones
    /// and returns views of all Length + T tokens, per slot.
    /// </summary>
    protected Tensor[] Write(int layer, params Tensor[] entries)
    {
        long t = entries[0].shape[_sequenceDim];
        if (Length + t > _capacity) throw new GenerationException($"KV cache is full: {Length} + {t} tokens exceed its capacity of {_capacity}");
        var slots = _tensors[layer];
        using (torch.no_grad())
            for (int s = 0; s < slots.Length; s++) slots[s].narrow(_sequenceDim, Length, t).copy_(entries[s]);
        return slots.Select(x => x.narrow(_sequenceDim, 0, Length + t)).ToArray();
    }

    /// <summary>The whole preallocated tensor of <paramref name="layer"/>'s slot <paramref name="slot"/> (B, …, capacity, …), for decode fast paths that write in place.</summary>
    internal Tensor Storage(int layer, int slot) => _tensors[layer][slot];

    /// <summary>Marks <paramref name="tokens"/> more tokens as stored (once per forward, after every layer wrote).</summary>
    public void Advance(int tokens) => Length += tokens;

    public override void Reorder(Tensor rowIndices)
    {
        using var idx = rowIndices.to(ScalarType.Int64).to(_tensors[0][0].device);
        foreach (var slots in _tensors)
            for (int s = 0; s < slots.Length; s++)
            {
                var moved = slots[s].index_select(0, idx).DetachFromDisposeScope();
                slots[s].Dispose();
                slots[s] = moved;
            }
        _batch = (int)idx.shape[0];
    }

    public override void AppendRows(KvCache other)
    {
        if (other is not LayeredKvCache o || o.GetType() != GetType() || o._tensors.Length != _tensors.Length || o._sequenceDim != _sequenceDim)
            throw new GenerationException($"cannot append the rows of a {other.GetType().Name} to a {GetType().Name} of another shape");
        int length = Math.Max(Length, o.Length);
        if (length > _capacity) throw new GenerationException($"KV cache is full: rows of {o.Length} tokens exceed its capacity of {_capacity}");
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        for (int l = 0; l < _tensors.Length; l++)
            for (int s = 0; s < _tensors[l].Length; s++)
            {
                var mine = _tensors[l][s];
                var shape = mine.shape.ToArray();
                shape[0] = _batch + o._batch;
                var merged = torch.zeros(shape, mine.dtype, mine.device);                                  // (B1 + B2, …, capacity, …)
                merged.narrow(0, 0, _batch).narrow(_sequenceDim, length - Length, Length).copy_(mine.narrow(_sequenceDim, 0, Length));
                merged.narrow(0, _batch, o._batch).narrow(_sequenceDim, length - o.Length, o.Length)
                      .copy_(o._tensors[l][s].narrow(_sequenceDim, 0, o.Length));
                mine.Dispose();
                _tensors[l][s] = merged.DetachFromDisposeScope();
            }
        _batch += o._batch;
        Length = length;
    }

    public override void DropFront(int count)
    {
        if (count < 0 || count > Length) throw new ArgumentOutOfRangeException(nameof(count));
        if (count == 0) return;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        int kept = Length - count;
        foreach (var slots in _tensors)
            foreach (var t in slots)
                if (kept > 0) t.narrow(_sequenceDim, 0, kept).copy_(t.narrow(_sequenceDim, count, kept).clone());
        Length = kept;
    }

    public override void Dispose()
    {
        foreach (var slots in _tensors) foreach (var t in slots) t.Dispose();
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Generation;

/// <summary>
/// Left-padded prompt rows in a (B, capacity) id buffer plus attention mask, as the <see cref="Models.Common.CausalLM"/>
/// contract (and Hugging Face decoder-only generation) expects. Padding repeats each row's first token, so
/// set-based processors (repetition penalty) see exactly the row's own tokens.
/// </summary>
internal sealed class PaddedBatch : IDisposable
{
    /// <summary>Ids so far, (B, capacity) int64; columns past <see cref="Length"/> are unused.</summary>
    public Tensor Ids { get; private set; }

    /// <summary>(B, capacity) int64, 0 on padding; null when no row is padded.</summary>
    public Tensor? Mask { get; private set; }

    /// <summary>First real column of each row.</summary>
    public int[] RowStarts { get; private set; }

    /// <summary>Columns filled (padded prompt length + generated steps).</summary>
    public int Length { get; private set; }

    public int PromptLength { get; }

    public PaddedBatch(IReadOnlyList<IReadOnlyList<int>> rows, int capacity, Device device)
    {
        int b = rows.Count;
        PromptLength = rows.Max(r => r.Count);
        var ids = new long[b * capacity];
        var mask = new long[b * capacity];
        RowStarts = new int[b];
        bool padded = false;
        for (int r = 0; r < b; r++)
        {
            var row = rows[r];
            int pad = PromptLength - row.Count;
            padded |= pad > 0;
            RowStarts[r] = pad;
            for (int c = 0; c < capacity; c++)
            {
                ids[r * capacity + c] = c < pad ? row[0] : c < PromptLength ? row[c - pad] : 0;
                mask[r * capacity + c] = c < pad ? 0 : 1;
            }
        }
        Ids = torch.tensor(ids, device: device).view(b, capacity).DetachFromDisposeScope();         // (B, capacity)
        Mask = padded ? torch.tensor(mask, device: device).view(b, capacity).DetachFromDisposeScope() : null;
        Length = PromptLength;
    }

    /// <summary>Ids so far, (B, Length).</summary>
    public Tensor Current => Ids.narrow(1, 0, Length);

    /// <summary>Mask so far, (B, Length), or null.</summary>
    public Tensor? CurrentMask => Mask?.narrow(1, 0, Length);

    /// <summary>Writes the next column from <paramref name="next"/> (B).</summary>
    public void Append(Tensor next)
    {
        Ids.narrow(1, Length, 1).copy_(next.view(-1, 1));
        Length++;
    }

    /// <summary>Row i becomes old row <paramref name="rows"/>[i].</summary>
    public void Reorder(Tensor rowIndices, IReadOnlyList<int> rows)
    {
        var ids = Ids.index_select(0, rowIndices).DetachFromDisposeScope();
        Ids.Dispose();
        Ids = ids;
        if (Mask is not null)
        {
            var mask = Mask.index_select(0, rowIndices).DetachFromDisposeScope();
            Mask.Dispose();
            Mask = mask;
        }
        RowStarts = rows.Select(i => RowStarts[i]).ToArray();
    }

    public void Dispose()
    {
        Ids.Dispose();
        Mask?.Dispose();
    }
}

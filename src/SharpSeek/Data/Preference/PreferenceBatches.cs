using System.Globalization;
using System.Text;
using SharpSeek.Distributed;
using static TorchSharp.torch;

namespace SharpSeek.Data.Preference;

/// <summary>
/// B pairs as one right-padded batch of 2B rows: rows 0..B−1 the chosen conversations, rows B..2B−1 the rejected ones in the
/// same order (one forward scores both). <paramref name="Ids"/> (2B, T) int64 (padding 0), <paramref name="AttentionMask"/>
/// (2B, T) int64 1 on real tokens, <paramref name="CompletionMask"/> (2B, T) float32 1 on completion tokens;
/// <paramref name="Tokens"/> = real tokens.
/// </summary>
public sealed record PreferenceBatch(Tensor Ids, Tensor AttentionMask, Tensor CompletionMask, int Pairs, long Tokens)
{
    /// <summary>The batch of <paramref name="pairs"/> (tensors in the caller's dispose scope).</summary>
    public static PreferenceBatch Collate(IReadOnlyList<EncodedPair> pairs)
    {
        var rows = pairs.Select(p => p.Chosen).Concat(pairs.Select(p => p.Rejected)).ToList();
        int n = rows.Count, t = rows.Max(r => r.Ids.Length);
        var ids = new long[n * t];
        var attention = new long[n * t];
        var completion = new float[n * t];
        long tokens = 0;
        for (int i = 0; i < n; i++)
        {
            var r = rows[i];
            for (int j = 0; j < r.Ids.Length; j++)
            {
                ids[i * t + j] = r.Ids[j];
                attention[i * t + j] = 1;
                completion[i * t + j] = r.CompletionMask[j] ? 1 : 0;
            }
            tokens += r.Ids.Length;
        }
        return new PreferenceBatch(tensor(ids, [n, t]), tensor(attention, [n, t]), tensor(completion, [n, t]), pairs.Count, tokens);
    }
}

/// <summary>
/// The encoded train and held-out pairs of a preference objective and its sampling state: training batches are drawn at
/// random (seeded SplitMix64, checkpointed exactly); held-out batches go through the held-out pairs in file order,
/// wrapping round, from the start after each <see cref="Reseed"/> (every evaluation sees the same pairs).
/// </summary>
public sealed class PreferenceBatches
{
    private readonly IReadOnlyList<EncodedPair> _train, _val;
    private SplitMix64 _trainRng;
    private int _valPosition;

    public PreferenceBatches(IReadOnlyList<EncodedPair> train, IReadOnlyList<EncodedPair> val, ulong seed)
    {
        if (train.Count == 0) throw new DataException("no training pairs (all were held out)");
        if (val.Count == 0) throw new DataException("no held-out pairs (set preference.val_data or a larger preference.val_fraction)");
        _train = train; _val = val; _trainRng = new SplitMix64(seed);
    }

    /// <summary>The pairs of <paramref name="split"/>.</summary>
    public IReadOnlyList<EncodedPair> Pairs(DataSplit split) => split == DataSplit.Train ? _train : _val;

    /// <summary>Largest token id in any pair (checked against the model's vocabulary).</summary>
    public int MaxTokenId => _train.Concat(_val).Max(p => Math.Max(p.Chosen.Ids.DefaultIfEmpty().Max(), p.Rejected.Ids.DefaultIfEmpty().Max()));

    /// <summary>Longest conversation in tokens.</summary>
    public int MaxLength => _train.Concat(_val).Max(p => Math.Max(p.Chosen.Ids.Length, p.Rejected.Ids.Length));

    /// <summary>
    /// The next <paramref name="pairs"/> pairs of <paramref name="split"/> as one batch; of training pairs only
    /// <paramref name="shard"/>'s B/N (the stream advances by the whole global batch on every rank).
    /// </summary>
    public PreferenceBatch Next(DataSplit split, int pairs, DataShard? shard = null)
    {
        var chosen = new List<EncodedPair>(pairs);
        for (int i = 0; i < pairs; i++)
        {
            if (split == DataSplit.Train) chosen.Add(_train[(int)_trainRng.NextLong(_train.Count)]);
            else { chosen.Add(_val[_valPosition]); _valPosition = (_valPosition + 1) % _val.Count; }
        }
        return PreferenceBatch.Collate(split == DataSplit.Train && shard is { IsSplit: true } ? shard.Slice(chosen) : chosen);
    }

    /// <summary>Every pair of <paramref name="split"/> once, in batches of up to <paramref name="pairs"/> (the last may be smaller).</summary>
    public IEnumerable<IReadOnlyList<EncodedPair>> Chunks(DataSplit split, int pairs) => Pairs(split).Chunk(pairs);

    public void Reseed(DataSplit split, ulong seed)
    {
        if (split == DataSplit.Train) _trainRng = new SplitMix64(seed);
        else _valPosition = 0;
    }

    public string SaveState() => string.Create(CultureInfo.InvariantCulture, $"{_trainRng.State};{_valPosition}");

    public void RestoreState(string state)
    {
        var parts = state.Split(';');
        if (parts.Length != 2 || !ulong.TryParse(parts[0], CultureInfo.InvariantCulture, out ulong rng) || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int pos))
            throw new CheckpointException($"preference data state '{state}' is not valid");
        _trainRng = new SplitMix64(0) { State = rng };
        _valPosition = pos % _val.Count;
    }

    /// <summary>
    /// Train/held-out split of <paramref name="pairs"/> by a hash of each pair's text (FNV-1a 64): a pair is held out when its
    /// hash falls in the lowest <paramref name="valFraction"/> of the range, so the split does not depend on line order. At
    /// least one pair is held out (the lowest hash) and one kept, when there are two or more.
    /// </summary>
    public static (List<PreferencePair> Train, List<PreferencePair> Val) HashSplit(IReadOnlyList<PreferencePair> pairs, double valFraction)
    {
        var hashes = pairs.Select(Hash).ToList();
        ulong threshold = (ulong)(valFraction * ulong.MaxValue);
        var isVal = hashes.Select(h => h < threshold).ToArray();
        if (pairs.Count >= 2)
        {
            if (!isVal.Any(v => v)) isVal[hashes.IndexOf(hashes.Min())] = true;
            if (isVal.All(v => v)) isVal[hashes.IndexOf(hashes.Max())] = false;
        }
        var train = new List<PreferencePair>();
        var val = new List<PreferencePair>();
        for (int i = 0; i < pairs.Count; i++) (isVal[i] ? val : train).Add(pairs[i]);
        return (train, val);
    }

    /// <summary>FNV-1a 64 of the pair's prompt, chosen and rejected text.</summary>
    public static ulong Hash(PreferencePair pair)
    {
        var text = new StringBuilder();
        foreach (var m in pair.Prompt) text.Append(m.Role).Append('\u0001').Append(m.Content).Append('\u0002');
        text.Append(pair.Chosen).Append('\u0003').Append(pair.Rejected);
        ulong h = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(text.ToString())) { h ^= b; h *= 1099511628211UL; }
        return h;
    }
}

using System.Globalization;
using SharpSeek.Data.Tasks;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Data.Chat;

/// <summary>
/// The SFT data of one run: train and held-out samples, encoded with the chat template. Samples longer than block_size are
/// truncated to their first block_size tokens (the run says how many); one left with nothing to learn (its assistant tokens
/// all cut off) is dropped and counted.
/// </summary>
public sealed class SftDataset
{
    public IReadOnlyList<SftSample> Train { get; }
    public IReadOnlyList<SftSample> Val { get; }

    /// <summary>Samples cut to block_size tokens.</summary>
    public int Truncated { get; }

    /// <summary>Samples dropped because truncation left them no supervised token.</summary>
    public int Dropped { get; }

    /// <summary>Examples of the data file dropped from training because their first user message is also in val_data.</summary>
    public int Overlap { get; }

    private SftDataset(IReadOnlyList<SftSample> train, IReadOnlyList<SftSample> val, int truncated, int dropped, int overlap)
    {
        Train = train; Val = val; Truncated = truncated; Dropped = dropped; Overlap = overlap;
    }

    /// <summary>
    /// Reads <paramref name="dataPath"/> (and <paramref name="valPath"/>, else holds out <paramref name="valFraction"/> of the
    /// data by a stable hash of each example's first user message, <see cref="Split"/>) and encodes every example. Throws
    /// <see cref="DataException"/> for bad lines (file:line), text the template cannot express, or an empty split.
    /// </summary>
    public static SftDataset Load(string dataPath, string? valPath, double valFraction, string? systemPrompt,
                                  IChatTemplate template, ITextTokenizer tokenizer, int blockSize)
    {
        var examples = SftJsonl.Read(dataPath, systemPrompt);
        List<SftExample> train, val;
        int overlap = 0;
        if (valPath is not null)
        {
            val = SftJsonl.Read(valPath, systemPrompt).ToList();
            var held = val.Select(e => TaskSplits.NormalizePrompt(e.Key)).ToHashSet(StringComparer.Ordinal);
            train = examples.Where(e => !held.Contains(TaskSplits.NormalizePrompt(e.Key))).ToList();
            overlap = examples.Count - train.Count;
        }
        else (train, val) = Split(examples, valFraction);
        if (train.Count == 0)
            throw new DataException(valPath is null ? $"{dataPath}: every example fell into the held-out split; lower sft.val_fraction"
                                                    : $"{dataPath}: every example's first user message is also in {valPath}; nothing is left to train on");
        if (val.Count == 0)
            throw new DataException($"{dataPath}: no example fell into the held-out split ({train.Count} examples, val_fraction {valFraction.ToString(CultureInfo.InvariantCulture)}); " +
                                    "raise sft.val_fraction or give sft.val_data");
        int truncated = 0, dropped = 0;
        var trainSamples = Encode(train, template, tokenizer, blockSize, ref truncated, ref dropped);
        var valSamples = Encode(val, template, tokenizer, blockSize, ref truncated, ref dropped);
        if (trainSamples.Count == 0 || valSamples.Count == 0)
            throw new DataException($"{(trainSamples.Count == 0 ? dataPath : valPath ?? dataPath)}: no {(trainSamples.Count == 0 ? "training" : "held-out")} example keeps an assistant token within block_size = {blockSize}; raise block_size");
        return new SftDataset(trainSamples, valSamples, truncated, dropped, overlap);
    }

    /// <summary>Prefixed to the key before hashing, so the hold-out split is independent of the task test split.</summary>
    public const string HoldOutSalt = "sft-holdout ";

    /// <summary>
    /// (train, val): an example is held out when the stable hash of its normalised first user message, salted with
    /// <see cref="HoldOutSalt"/>, falls in the lowest <paramref name="valFraction"/> (<see cref="TaskSplits.Of"/>), so the
    /// split depends on the text alone and repeats of a prompt never straddle it. The salt makes it independent of the task
    /// generators' test split (the same hash unsalted): a train-split task export, which holds no test prompt, still gets a
    /// held-out share.
    /// </summary>
    public static (List<SftExample> Train, List<SftExample> Val) Split(IReadOnlyList<SftExample> examples, double valFraction)
    {
        var train = new List<SftExample>();
        var val = new List<SftExample>();
        foreach (var e in examples) (TaskSplits.Of(HoldOutSalt + e.Key, valFraction) == TaskSplit.Test ? val : train).Add(e);
        return (train, val);
    }

    /// <summary>One encoded sample of at most <paramref name="blockSize"/> tokens, or null when truncation leaves it nothing to learn.</summary>
    public static SftSample? EncodeSample(SftExample example, IChatTemplate template, ITextTokenizer tokenizer, int blockSize, out bool truncated)
    {
        var (ids, targets) = ChatExamples.SupervisedTargets(ChatExamples.Encode(template, tokenizer, example));
        truncated = ids.Length > blockSize;
        if (truncated)
        {
            ids = ids[..blockSize];
            targets = targets[..blockSize];
            targets[^1] = -100;                                        // its next token was cut off
        }
        return targets.Any(t => t >= 0) ? new SftSample(ids, targets) : null;
    }

    private static List<SftSample> Encode(List<SftExample> examples, IChatTemplate template, ITextTokenizer tokenizer, int blockSize, ref int truncated, ref int dropped)
    {
        var samples = new List<SftSample>(examples.Count);
        foreach (var e in examples)
        {
            var s = EncodeSample(e, template, tokenizer, blockSize, out bool cut);
            if (cut) truncated++;
            if (s is null) dropped++;
            else samples.Add(s);
        }
        return samples;
    }

    /// <summary>One line for the log: counts, supervised tokens, and what truncation did.</summary>
    public string Describe(int blockSize)
    {
        var line = string.Create(CultureInfo.InvariantCulture,
            $"sft data: {Train.Count:N0} train and {Val.Count:N0} held-out samples, {Train.Sum(s => (long)s.Supervised):N0} supervised train tokens of {Train.Sum(s => (long)s.Length):N0}");
        if (Overlap > 0) line += $"; {Overlap} examples dropped from training because val_data has their first user message";
        if (Truncated > 0) line += $"; {Truncated} samples longer than block_size = {blockSize} truncated to it" + (Dropped > 0 ? $", {Dropped} of them dropped (no assistant token left)" : "");
        return line;
    }
}

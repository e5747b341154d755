using Microsoft.ML.Tokenizers;

namespace SharpSeek.Tokenization;

/// <summary>How a Hugging Face <c>Split</c> pre-tokenizer treats matches (tokenizers' <c>SplitDelimiterBehavior</c>).</summary>
public enum SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>One regex split step (Hugging Face <c>Split</c>, or <c>ByteLevel</c> with <c>use_regex</c>) over code points.</summary>
/// <remarks><paramref name="Regex"/> null = no split; <paramref name="AddPrefixSpace"/> prepends " " to each piece not starting with one (HF ByteLevel).</remarks>
public sealed record SplitStep(CodePointRegex? Regex, SplitBehavior Behavior, bool Invert = false, bool AddPrefixSpace = false);

/// <summary>
/// A chain of regex splits applied piece by piece, as Hugging Face's <c>Sequence</c> pre-tokenizer; with the single GPT-2
/// step it is the pre-tokenization of GPT-2 and tiktoken's r50k_base (Radford et al. 2019).
/// </summary>
public sealed class PreTokenizerPipeline
{
    /// <summary>GPT-2's pre-tokenizer regex (openai/gpt-2 encoder.py; HF ByteLevel with use_regex).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly Lazy<CodePointRegex> s_gpt2Regex = new(() => new CodePointRegex(Gpt2Pattern));

    public PreTokenizerPipeline(IReadOnlyList<SplitStep> steps) => Steps = steps;

    public IReadOnlyList<SplitStep> Steps { get; }

    /// <summary>The GPT-2 pipeline: one isolated split with <see cref="Gpt2Pattern"/>.</summary>
    public static PreTokenizerPipeline Gpt2() => new([Gpt2Step()]);

    public static SplitStep Gpt2Step() => new(s_gpt2Regex.Value, SplitBehavior.Isolated);

    /// <summary>Pieces of <paramref name="text"/> as strings (supports <see cref="SplitStep.AddPrefixSpace"/>); empty pieces are dropped.</summary>
    public List<string> SplitToStrings(string text)
    {
        var pieces = new List<string> { text };
        var offsets = new List<(int, int)>();
        foreach (var step in Steps)
        {
            var next = new List<string>();
            foreach (var raw in pieces)
            {
                var p = step.AddPrefixSpace && !raw.StartsWith(' ') ? " " + raw : raw;
                if (step.Regex is null) { next.Add(p); continue; }
                offsets.Clear();
                ApplyStep(step, p, 0, p.Length, offsets);
                foreach (var (o, l) in offsets) if (l > 0) next.Add(p.Substring(o, l));
            }
            pieces = next;
        }
        pieces.RemoveAll(p => p.Length == 0);
        return pieces;
    }

    /// <summary>(offset, length) pieces of <c>text[start..start+length]</c>; empty pieces are dropped. No step may add a prefix space.</summary>
    public List<(int Offset, int Length)> Split(ReadOnlySpan<char> text, int start, int length)
    {
        var pieces = new List<(int, int)> { (start, length) };
        foreach (var step in Steps)
        {
            if (step.AddPrefixSpace) throw new InvalidOperationException("Offset splitting cannot add a prefix space; use SplitToStrings.");
            if (step.Regex is null) continue;
            var next = new List<(int, int)>();
            foreach (var (o, l) in pieces) ApplyStep(step, text, o, l, next);
            pieces = next;
        }
        pieces.RemoveAll(p => p.Item2 == 0);
        return pieces;
    }

    private static void ApplyStep(SplitStep step, ReadOnlySpan<char> text, int start, int length, List<(int, int)> output)
    {
        // Cover the piece with alternating gaps and matches.
        var segments = new List<(int Start, int End, bool IsMatch)>();
        var at = start;
        foreach (var (o, l) in step.Regex!.Matches(text, start, length))
        {
            if (o > at) segments.Add((at, o, step.Invert));
            segments.Add((o, o + l, !step.Invert));
            at = o + l;
        }
        if (at < start + length) segments.Add((at, start + length, step.Invert));

        switch (step.Behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var s in segments) output.Add((s.Start, s.End - s.Start));
                break;
            case SplitBehavior.Removed:
                foreach (var s in segments) if (!s.IsMatch) output.Add((s.Start, s.End - s.Start));
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                var merged = new List<(int Start, int End)>();
                var previousMatch = false;
                foreach (var s in segments)
                {
                    if (s.IsMatch && !previousMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, s.End);
                    else merged.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                foreach (var m in merged) output.Add((m.Start, m.End - m.Start));
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                var merged = new List<(int Start, int End)>();
                var previousMatch = false;
                for (var i = segments.Count - 1; i >= 0; i--)
                {
                    var s = segments[i];
                    if (s.IsMatch && !previousMatch && merged.Count > 0) merged[^1] = (s.Start, merged[^1].End);
                    else merged.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                for (var i = merged.Count - 1; i >= 0; i--) output.Add((merged[i].Start, merged[i].End - merged[i].Start));
                break;
            }
            case SplitBehavior.Contiguous:
            {
                var merged = new List<(int Start, int End)>();
                bool? previousMatch = null;
                foreach (var s in segments)
                {
                    if (previousMatch == s.IsMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, s.End);
                    else merged.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                foreach (var m in merged) output.Add((m.Start, m.End - m.Start));
                break;
            }
        }
    }
}

/// <summary>Adapts a <see cref="PreTokenizerPipeline"/> to Microsoft.ML.Tokenizers so its BPE model sees code-point-correct pieces.</summary>
public sealed class CodePointPreTokenizer : PreTokenizer
{
    private readonly PreTokenizerPipeline _pipeline;

    public CodePointPreTokenizer(PreTokenizerPipeline pipeline) => _pipeline = pipeline;

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        string.IsNullOrEmpty(text) ? [] : _pipeline.Split(text, 0, text.Length);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
        text.IsEmpty ? [] : _pipeline.Split(text, 0, text.Length);
}

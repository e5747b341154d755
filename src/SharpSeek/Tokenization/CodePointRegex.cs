using System.Globalization;
using System.Text.RegularExpressions;

namespace SharpSeek.Tokenization;

/// <summary>
/// A .NET <see cref="Regex"/> that sees whole Unicode code points, as tiktoken's and Hugging Face's Rust regex engines do.
/// .NET matches UTF-16 code units, so an astral letter (e.g. U+1D518, a surrogate pair) is not <c>\p{L}</c>. Each astral
/// code point is replaced by one BMP character of the same Unicode category before matching, and match positions are
/// mapped back to the original text.
/// </summary>
public sealed class CodePointRegex
{
    private static readonly char[] s_representative = BuildRepresentatives();
    private readonly Regex _regex;

    public CodePointRegex(string pattern)
    {
        try { _regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant); }
        catch (ArgumentException e) { throw new TokenizerException($"The pre-tokenizer regex '{pattern}' is not valid: {e.Message}"); }
        Pattern = pattern;
    }

    public string Pattern { get; }

    /// <summary>Matches (offset, length) inside <c>text[start..start+length]</c>, offsets relative to <paramref name="text"/>.</summary>
    public List<(int Offset, int Length)> Matches(ReadOnlySpan<char> text, int start, int length)
    {
        var segment = text.Slice(start, length);
        var result = new List<(int, int)>();
        if (!HasSurrogatePair(segment))
        {
            foreach (var m in _regex.EnumerateMatches(segment))
                if (m.Length > 0) result.Add((start + m.Index, m.Length));
            return result;
        }
        // Shadow string: one char per code point; map[i] = offset in segment of shadow char i (map[n] = segment length).
        var shadow = new char[segment.Length];
        var map = new int[segment.Length + 1];
        var n = 0;
        for (var i = 0; i < segment.Length; i++)
        {
            map[n] = i;
            if (char.IsHighSurrogate(segment[i]) && i + 1 < segment.Length && char.IsLowSurrogate(segment[i + 1]))
            {
                var cp = char.ConvertToUtf32(segment[i], segment[i + 1]);
                shadow[n++] = s_representative[(int)CharUnicodeInfo.GetUnicodeCategory(cp)];
                i++;
            }
            else shadow[n++] = segment[i];
        }
        map[n] = segment.Length;
        foreach (var m in _regex.EnumerateMatches(shadow.AsSpan(0, n)))
            if (m.Length > 0) result.Add((start + map[m.Index], map[m.Index + m.Length] - map[m.Index]));
        return result;
    }

    private static bool HasSurrogatePair(ReadOnlySpan<char> s)
    {
        for (var i = 0; i + 1 < s.Length; i++)
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1])) return true;
        return false;
    }

    // One BMP character per Unicode category, taken from U+0100 upwards (skipping CJK/kana blocks that patterns name
    // explicitly, such as DeepSeek-V3's [一-龥぀-ゟ゠-ヿ]).
    private static char[] BuildRepresentatives()
    {
        var reps = new char[32];
        var found = new bool[32];
        for (var c = 0x100; c < 0xFFFF; c++)
        {
            if (c is >= 0x2E80 and <= 0x9FFF || char.IsSurrogate((char)c)) continue;
            var cat = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            if (found[cat] || char.IsWhiteSpace((char)c)) continue;
            reps[cat] = (char)c;
            found[cat] = true;
        }
        for (var cat = 0; cat < 32; cat++) if (!found[cat]) reps[cat] = '\uE000';
        return reps;
    }
}

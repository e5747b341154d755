using System.Text;

namespace SharpSeek.Data;

/// <summary>
/// Small corpus-cleaning steps as pure functions: exact-duplicate removal and heuristic quality filters
/// (minimum length, maximum share of non-letters), after the exact-dedup and heuristic stages of Gopher (Rae et al. 2021) and C4 (Raffel et al. 2020).
/// </summary>
public static class TextCleaning
{
    /// <summary>Lines with exact duplicates after their first occurrence removed; blank lines are structure and always kept.</summary>
    public static IEnumerable<string> DedupLines(IEnumerable<string> lines)
    {
        var seen = new ExactDeduplicator();
        foreach (var line in lines)
            if (string.IsNullOrWhiteSpace(line) || seen.Add(line)) yield return line;
    }

    /// <summary>Documents with exact duplicates (ignoring trailing whitespace) after their first occurrence removed.</summary>
    public static IEnumerable<string> DedupDocuments(IEnumerable<string> documents)
    {
        var seen = new ExactDeduplicator();
        foreach (var doc in documents)
            if (seen.Add(doc.TrimEnd())) yield return doc;
    }

    /// <summary>Share of code points that are neither letters nor white space (digits and punctuation count as non-letters); 0 for empty text.</summary>
    public static double NonLetterRatio(string text)
    {
        long letters = 0, others = 0;
        foreach (var r in text.EnumerateRunes())
        {
            if (Rune.IsWhiteSpace(r)) continue;
            if (Rune.IsLetter(r)) letters++; else others++;
        }
        return letters + others == 0 ? 0 : (double)others / (letters + others);
    }

    /// <summary>True when <paramref name="text"/> has at least <paramref name="minChars"/> non-space code points and at most <paramref name="maxNonLetterRatio"/> non-letters.</summary>
    public static bool Passes(string text, int minChars = 0, double maxNonLetterRatio = 1.0)
    {
        long chars = 0;
        foreach (var r in text.EnumerateRunes()) if (!Rune.IsWhiteSpace(r)) chars++;
        return chars >= minChars && NonLetterRatio(text) <= maxNonLetterRatio;
    }

    /// <summary>Documents that pass <see cref="Passes"/>.</summary>
    public static IEnumerable<string> Filter(IEnumerable<string> documents, int minChars = 0, double maxNonLetterRatio = 1.0) =>
        documents.Where(d => Passes(d, minChars, maxNonLetterRatio));

    /// <summary>
    /// Splits text into paragraphs (runs of non-blank lines), each with the blank lines that follow it, so that
    /// <c>string.Concat(SplitParagraphs(t)) == t</c> for "\n"-terminated text.
    /// </summary>
    public static IEnumerable<string> SplitParagraphs(IEnumerable<string> lines)
    {
        var sb = new StringBuilder();
        bool inTrailingBlanks = false;
        foreach (var line in lines)
        {
            bool blank = string.IsNullOrWhiteSpace(line);
            if (!blank && inTrailingBlanks)
            {
                yield return sb.ToString();
                sb.Clear();
                inTrailingBlanks = false;
            }
            if (blank && sb.Length > 0) inTrailingBlanks = true;
            sb.Append(line).Append('\n');
        }
        if (sb.Length > 0) yield return sb.ToString();
    }
}

/// <summary>Remembers 64-bit FNV-1a hashes of strings seen so far (8 bytes per distinct string; collisions negligible below ~10^8 items).</summary>
public sealed class ExactDeduplicator
{
    private readonly HashSet<ulong> _seen = [];

    /// <summary>True the first time <paramref name="text"/> is seen.</summary>
    public bool Add(string text) => _seen.Add(Hash(text));

    public int Count => _seen.Count;

    public static ulong Hash(string text)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in text)
        {
            h = (h ^ (byte)c) * 1099511628211UL;
            h = (h ^ (byte)(c >> 8)) * 1099511628211UL;
        }
        return h;
    }
}

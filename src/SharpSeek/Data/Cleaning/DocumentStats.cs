using System.Globalization;
using System.Text;

namespace SharpSeek.Data.Cleaning;

/// <summary>Per-document measures the filters and labels use, as small pure functions.</summary>
public static class DocumentStats
{
    /// <summary>True for CJK ideographs (Unified, Extension A, Compatibility; the Extension B+ planes) — Chinese "Han" script.</summary>
    public static bool IsHan(Rune r) =>
        r.Value is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0xF900 and <= 0xFAFF or >= 0x20000 and <= 0x3134F;

    /// <summary>True for Latin letters (Basic Latin, Latin-1, Latin Extended A/B and Additional).</summary>
    public static bool IsLatin(Rune r) =>
        Rune.IsLetter(r) && (r.Value < 0x250 || r.Value is >= 0x1E00 and <= 0x1EFF);

    /// <summary>(Latin letters, Han characters, other letters) in <paramref name="text"/>.</summary>
    public static (int Latin, int Han, int Other) Scripts(string text)
    {
        int latin = 0, han = 0, other = 0;
        foreach (var r in text.EnumerateRunes())
        {
            if (IsHan(r)) han++;
            else if (IsLatin(r)) latin++;
            else if (Rune.IsLetter(r)) other++;
        }
        return (latin, han, other);
    }

    private static readonly HashSet<string> EnglishStopwords =
    [
        "the", "and", "of", "to", "a", "in", "that", "is", "it", "for", "with", "as", "was", "on", "be", "by", "he", "his",
        "i", "you", "not", "this", "are", "but", "have", "from", "or", "they", "we", "which", "at", "an", "all", "my", "me", "him",
    ];

    /// <summary>Share of words (letter runs, lower-cased) that are common English function words; 0 for no words.</summary>
    public static double EnglishStopwordRatio(string text)
    {
        int words = 0, stop = 0;
        foreach (var w in Words(text))
        {
            words++;
            if (EnglishStopwords.Contains(w)) stop++;
        }
        return words == 0 ? 0 : (double)stop / words;
    }

    private static IEnumerable<string> Words(string text)
    {
        var sb = new StringBuilder();
        foreach (char c in text)
        {
            if (char.IsLetter(c) || c == '\'') sb.Append(char.ToLowerInvariant(c));
            else if (sb.Length > 0) { yield return sb.ToString(); sb.Clear(); }
        }
        if (sb.Length > 0) yield return sb.ToString();
    }

    /// <summary>
    /// Language label: "zh" when Han characters are at least half the letters, "en" when Latin letters are and (for 20+
    /// words) at least 5% of the words are English function words, "latin" for other Latin-script text, "other" for other
    /// scripts, "none" without letters.
    /// </summary>
    public static string Language(string text)
    {
        var (latin, han, other) = Scripts(text);
        int letters = latin + han + other;
        if (letters == 0) return "none";
        if (2 * han >= letters) return "zh";
        if (2 * latin >= letters)
            return Words(text).Take(20).Count() < 20 || EnglishStopwordRatio(text) >= 0.05 ? "en" : "latin";
        return "other";
    }

    /// <summary>Share of non-blank lines that repeat an earlier non-blank line of the same document (Gopher's duplicate-line fraction); 0 for none.</summary>
    public static double RepeatedLineRatio(string text)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int lines = 0, repeated = 0;
        foreach (var raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0) continue;
            lines++;
            if (!seen.Add(line)) repeated++;
        }
        return lines == 0 ? 0 : (double)repeated / lines;
    }

    /// <summary>Non-space code points.</summary>
    public static int Chars(string text)
    {
        int n = 0;
        foreach (var r in text.EnumerateRunes()) if (!Rune.IsWhiteSpace(r)) n++;
        return n;
    }

    /// <summary>Length bucket of <paramref name="chars"/> non-space characters: "short" (&lt; 200), "medium" (&lt; 2,000), "long" (&lt; 20,000), "very-long".</summary>
    public static string LengthBucket(int chars) => chars switch { < 200 => "short", < 2_000 => "medium", < 20_000 => "long", _ => "very-long" };

    /// <summary>
    /// Heuristic quality in [0, 1]: the mean of (1 − symbol ratio), (1 − repeated-line ratio), a length score
    /// min(1, log10(chars) / 3) (1 from 1,000 characters), and a language score (1 for en or zh, 0.5 otherwise).
    /// </summary>
    public static double Quality(double symbolRatio, double repeatedLineRatio, int chars, string language)
    {
        double length = chars <= 1 ? 0 : Math.Min(1, Math.Log10(chars) / 3);
        double lang = language is "en" or "zh" ? 1 : 0.5;
        return Math.Round(((1 - symbolRatio) + (1 - repeatedLineRatio) + length + lang) / 4, 4);
    }

    /// <summary>Invariant-culture "F3" text of <paramref name="x"/>.</summary>
    internal static string F3(double x) => x.ToString("F3", CultureInfo.InvariantCulture);
}

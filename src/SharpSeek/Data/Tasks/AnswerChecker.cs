using System.Text;
using System.Text.RegularExpressions;

namespace SharpSeek.Data.Tasks;

/// <summary>
/// Rule-based answer extraction and comparison, the checker behind DeepSeek-R1's accuracy reward (§2.2.2).
/// A final answer is marked by GSM8K's <c>#### 72</c> line, by <c>\boxed{72}</c>, or by <c>&lt;answer&gt;72&lt;/answer&gt;</c>;
/// when several markers occur the last one wins. Numbers compare by value as written: commas and spaces as thousands
/// separators, a leading <c>+</c> or <c>$</c>, a trailing period, the Unicode minus and trailing zeros after the decimal
/// point are ignored ("1,234" = "1234", "−5" = "-5", "3.0" = "3"). Anything else compares as trimmed text with
/// whitespace collapsed; there is no partial credit for "72 clips".
/// </summary>
public static class AnswerChecker
{
    private const string Marker = "####";
    private const string Boxed = "\\boxed{";
    private const string AnswerOpen = "<answer>", AnswerClose = "</answer>";

    /// <summary>
    /// The final answer of <paramref name="text"/>, normalised by <see cref="NormalizeAnswer"/>: the rest of the line after the
    /// last <c>####</c>, the content of the last balanced <c>\boxed{…}</c>, or of the last <c>&lt;answer&gt;…&lt;/answer&gt;</c>
    /// (whichever comes last; markers inside an answer tag are read inside it). Null when there is no marker or it is empty.
    /// </summary>
    public static string? ExtractFinalAnswer(string text)
    {
        int hash = text.LastIndexOf(Marker, StringComparison.Ordinal);
        int boxed = text.LastIndexOf(Boxed, StringComparison.Ordinal);
        int tag = text.LastIndexOf(AnswerOpen, StringComparison.Ordinal);
        int close = tag < 0 ? -1 : text.IndexOf(AnswerClose, tag + AnswerOpen.Length, StringComparison.Ordinal);
        string? raw;
        if (close >= 0 && Math.Max(hash, boxed) < close)                 // the answer tag is last (markers before or inside it); an unclosed tag is no answer
        {
            string inner = text[(tag + AnswerOpen.Length)..close];
            bool nested = inner.Contains(Marker, StringComparison.Ordinal) || inner.Contains(Boxed, StringComparison.Ordinal);
            return nested ? ExtractFinalAnswer(inner) : Normalized(inner);
        }
        if (hash > boxed)
        {
            int start = hash + Marker.Length;
            int end = text.IndexOf('\n', start);
            raw = end < 0 ? text[start..] : text[start..end];
        }
        else if (boxed >= 0) raw = BracedContent(text, boxed + Boxed.Length);
        else return null;
        return raw is null ? null : Normalized(raw);
    }

    /// <summary>
    /// The strict R1 answer: the normalised content of the one <c>&lt;answer&gt;…&lt;/answer&gt;</c> pair of <paramref name="text"/>.
    /// Null when there is no pair, more than one tag of either kind, the tags are out of order, or the content is empty.
    /// </summary>
    public static string? ExtractTaggedAnswer(string text)
    {
        int open = text.IndexOf(AnswerOpen, StringComparison.Ordinal), close = text.IndexOf(AnswerClose, StringComparison.Ordinal);
        if (open < 0 || close < open) return null;
        if (text.IndexOf(AnswerOpen, open + 1, StringComparison.Ordinal) >= 0 || text.IndexOf(AnswerClose, close + 1, StringComparison.Ordinal) >= 0) return null;
        return Normalized(text[(open + AnswerOpen.Length)..close]);
    }

    private static string? Normalized(string raw)
    {
        string answer = NormalizeAnswer(raw);
        return answer.Length == 0 ? null : answer;
    }

    /// <summary>Content up to the brace matching the one just before <paramref name="start"/>; null when unbalanced.</summary>
    private static string? BracedContent(string text, int start)
    {
        int depth = 1;
        for (int i = start; i < text.Length; i++)
        {
            if (text[i] == '{') depth++;
            else if (text[i] == '}' && --depth == 0) return text[start..i];
        }
        return null;
    }

    /// <summary>True when both answers normalise to the same non-empty string.</summary>
    public static bool AnswersEqual(string given, string expected)
    {
        string a = NormalizeAnswer(given);
        return a.Length > 0 && a == NormalizeAnswer(expected);
    }

    /// <summary>
    /// Canonical form of an answer: a number as <see cref="CanonicalNumber"/> writes it when the text is one number,
    /// otherwise the text trimmed, without trailing periods, with whitespace runs collapsed to one space.
    /// </summary>
    public static string NormalizeAnswer(string answer)
    {
        var sb = new StringBuilder(answer.Length);
        foreach (char ch in answer) sb.Append(ch is '\u2212' or '\u2013' or '\uFE63' or '\uFF0D' ? '-' : ch);
        string t = sb.ToString().Trim().TrimEnd('.').TrimEnd();
        return CanonicalNumber(t) ?? string.Join(' ', t.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    private static readonly Regex Grouped = new(@"^\d{1,3}([, \u00A0\u2009\u202F]\d{3})+(\.\d+)?$", RegexOptions.CultureInvariant);
    private static readonly Regex Plain = new(@"^(\d+)(\.(\d*))?$|^\.(\d+)$", RegexOptions.CultureInvariant);

    /// <summary>
    /// The number <paramref name="text"/> writes, as sign (only "-", never for zero), integer digits without leading zeros and
    /// fractional digits without trailing zeros: "+1,234.50" → "1234.5", "- 007" → "-7", "-0.0" → "0". Exact for any
    /// length (no floating point). Null when the text is not one number.
    /// </summary>
    public static string? CanonicalNumber(string text)
    {
        string t = text.Trim();
        bool negative = false;
        if (t.StartsWith('+') || t.StartsWith('-')) { negative = t[0] == '-'; t = t[1..].TrimStart(); }
        if (t.StartsWith('$')) t = t[1..];
        if (Grouped.IsMatch(t)) t = new string(t.Where(c => char.IsAsciiDigit(c) || c == '.').ToArray());
        var m = Plain.Match(t);
        if (!m.Success) return null;
        string whole = m.Groups[1].Success ? m.Groups[1].Value : "";
        string frac = m.Groups[3].Success ? m.Groups[3].Value : m.Groups[4].Value;
        whole = whole.TrimStart('0');
        frac = frac.TrimEnd('0');
        if (whole.Length == 0) whole = "0";
        string number = frac.Length == 0 ? whole : $"{whole}.{frac}";
        return negative && number != "0" ? "-" + number : number;
    }
}

/// <summary>Rule-based rewards of DeepSeek-R1 (§2.2.2): accuracy by checking the final answer, and format. Each is 1 or 0.</summary>
public static class Reward
{
    private static readonly Regex ThinkThenRest = new(@"^\s*<think>(?<think>.*?)</think>(?<rest>.*)$", RegexOptions.Singleline | RegexOptions.CultureInvariant);
    private static readonly Regex AnswerTag = new(@"^\s*<answer>(?<answer>.*?)</answer>\s*$", RegexOptions.Singleline | RegexOptions.CultureInvariant);

    /// <summary>1 when the final answer of <paramref name="completion"/> (see <see cref="AnswerChecker.ExtractFinalAnswer"/>) equals <paramref name="answer"/>, else 0.</summary>
    public static double Correctness(string completion, string answer)
    {
        string? given = AnswerChecker.ExtractFinalAnswer(completion);
        return given is not null && AnswerChecker.AnswersEqual(given, answer) ? 1.0 : 0.0;
    }

    /// <summary>1 when the one <c>&lt;answer&gt;…&lt;/answer&gt;</c> of <paramref name="completion"/> equals <paramref name="answer"/> (see <see cref="AnswerChecker.ExtractTaggedAnswer"/>); missing, malformed or several answers score 0.</summary>
    public static double TaggedCorrectness(string completion, string answer)
    {
        string? given = AnswerChecker.ExtractTaggedAnswer(completion);
        return given is not null && AnswerChecker.AnswersEqual(given, answer) ? 1.0 : 0.0;
    }

    /// <summary>
    /// R1's strict accuracy for a task: the one <c>&lt;answer&gt;…&lt;/answer&gt;</c> of <paramref name="completion"/> (see
    /// <see cref="AnswerChecker.ExtractTaggedAnswer"/>) checked by <paramref name="task"/>'s rule (Countdown evaluates the
    /// expression) or, without a task, compared with <paramref name="example"/>'s answer. Missing, malformed or several answers score 0.
    /// </summary>
    public static double TaggedScore(ITaskGenerator? task, TaskExample example, string completion)
    {
        string? given = AnswerChecker.ExtractTaggedAnswer(completion);
        if (given is null) return 0.0;
        return task is null ? (AnswerChecker.AnswersEqual(given, example.Answer) ? 1.0 : 0.0) : task.Score(example, $"<answer>{given}</answer>");
    }

    /// <summary>
    /// 1 when <paramref name="completion"/> is R1's template (DeepSeek-AI 2025, Table 1): <c>&lt;think&gt;reasoning&lt;/think&gt;</c>
    /// first (non-empty reasoning, one think pair, only whitespace before it), then <c>&lt;answer&gt;…&lt;/answer&gt;</c> (non-empty,
    /// one pair) with only whitespace between and after. Else 0.
    /// </summary>
    public static double Format(string completion)
    {
        if (Occurrences(completion, "<think>") != 1 || Occurrences(completion, "</think>") != 1) return 0.0;
        var m = ThinkThenRest.Match(completion);
        if (!m.Success || string.IsNullOrWhiteSpace(m.Groups["think"].Value)) return 0.0;
        string rest = m.Groups["rest"].Value;
        if (Occurrences(rest, "<answer>") != 1 || Occurrences(rest, "</answer>") != 1) return 0.0;
        var a = AnswerTag.Match(rest);
        return a.Success && !string.IsNullOrWhiteSpace(a.Groups["answer"].Value) ? 1.0 : 0.0;
    }

    private static int Occurrences(string text, string tag)
    {
        int n = 0;
        for (int i = text.IndexOf(tag, StringComparison.Ordinal); i >= 0; i = text.IndexOf(tag, i + tag.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}

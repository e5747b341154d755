using System.Text.RegularExpressions;

namespace SharpSeek.Tokenization;

/// <summary>Splits text around special/added tokens, leftmost-longest as Hugging Face's added-vocabulary matcher.</summary>
public sealed class SpecialTokenSplitter
{
    private readonly Regex? _regex;
    private readonly Dictionary<string, int> _tokens;

    public SpecialTokenSplitter(IReadOnlyDictionary<string, int> tokens)
    {
        _tokens = new Dictionary<string, int>(tokens.Where(t => t.Key.Length > 0), StringComparer.Ordinal);
        if (_tokens.Count > 0)
            _regex = new Regex(string.Join("|", _tokens.Keys.OrderByDescending(t => t.Length).ThenBy(t => t, StringComparer.Ordinal).Select(Regex.Escape)),
                RegexOptions.CultureInvariant);
    }

    public IReadOnlyDictionary<string, int> Tokens => _tokens;

    /// <summary>Segments of <paramref name="text"/> in order: plain text (Id = null) or a special token (its id).</summary>
    public IEnumerable<(int Offset, int Length, int? Id)> Split(string text)
    {
        var at = 0;
        if (_regex is not null)
            foreach (Match m in _regex.Matches(text))
            {
                if (m.Index > at) yield return (at, m.Index - at, null);
                yield return (m.Index, m.Length, _tokens[m.Value]);
                at = m.Index + m.Length;
            }
        if (at < text.Length) yield return (at, text.Length - at, null);
    }
}

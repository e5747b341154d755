using System.Text;
using SharpSeek.Tokenization;

namespace SharpSeek.Generation;

/// <summary>
/// Turns a growing list of token ids into text deltas that never split a character: decodes the ids since the last
/// complete character and holds the text back while it ends in U+FFFD (text-generation-inference's <c>decode_token</c> scheme).
/// </summary>
public sealed class IncrementalDetokenizer(ITextTokenizer tokenizer)
{
    private readonly List<int> _ids = new();
    private int _prefixOffset, _readOffset;

    public IReadOnlyList<int> Ids => _ids;

    /// <summary>Appends <paramref name="id"/> and returns the newly complete text (possibly empty).</summary>
    public string Add(int id)
    {
        _ids.Add(id);
        string prefix = Decode(_prefixOffset, _readOffset);
        string text = Decode(_prefixOffset, _ids.Count);
        if (text.Length <= prefix.Length || text[^1] == '\uFFFD') return "";
        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        return text[prefix.Length..];
    }

    /// <summary>Returns all text still held back (an incomplete character at the end decodes to U+FFFD).</summary>
    public string Flush()
    {
        string prefix = Decode(_prefixOffset, _readOffset);
        string text = Decode(_prefixOffset, _ids.Count);
        _prefixOffset = _readOffset = _ids.Count;
        return text.Length > prefix.Length ? text[prefix.Length..] : "";
    }

    private string Decode(int from, int to) => to > from ? tokenizer.Decode(_ids.Skip(from).Take(to - from)) : "";
}

/// <summary>
/// Cuts text at the first stop string, across any number of pushes, and holds back the longest tail that could still be
/// the start of a stop string, so a stop string never reaches the output (as vLLM/TGI stop sequences).
/// </summary>
public sealed class StopStringFilter(IReadOnlyList<string> stopStrings)
{
    private readonly StringBuilder _pending = new();

    /// <summary>True once a stop string has been seen; later text is dropped.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds <paramref name="text"/>; returns the part that is safe to emit.</summary>
    public string Push(string text)
    {
        if (Stopped) return "";
        _pending.Append(text);
        string p = _pending.ToString();
        int cut = -1;
        foreach (string s in stopStrings)
        {
            int at = p.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return p[..cut];
        }
        int hold = 0;
        foreach (string s in stopStrings)
            for (int k = Math.Min(s.Length - 1, p.Length); k > hold; k--)
                if (p.AsSpan(p.Length - k).SequenceEqual(s.AsSpan(0, k))) { hold = k; break; }
        _pending.Clear().Append(p, p.Length - hold, hold);
        return p[..^hold];
    }

    /// <summary>Returns the held-back text at the end of generation (it did not become a stop string).</summary>
    public string Flush()
    {
        string rest = _pending.ToString();
        _pending.Clear();
        return rest;
    }
}

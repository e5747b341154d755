using SharpSeek.Checkpoints;
using System.Text;

namespace SharpSeek.Data;

/// <summary>Writes a corpus as plain UTF-8 text (documents separated by one blank line, "\n" line ends), counting bytes, code points and documents.</summary>
public sealed class CorpusWriter : IDisposable
{
    private readonly Stream _stream;
    private readonly StreamWriter _writer;
    private bool _pendingSeparator;

    public long Characters { get; private set; }
    public long Documents { get; private set; }
    public long Bytes { get { _writer.Flush(); return _stream.Position; } }

    public CorpusWriter(Stream stream)
    {
        _stream = stream;
        _writer = new StreamWriter(stream, AtomicFiles.StrictUtf8, 1 << 16, leaveOpen: true) { NewLine = "\n" };
    }

    /// <summary>Appends one document; empty (whitespace-only) documents are skipped.</summary>
    public void WriteDocument(string text)
    {
        text = text.Replace("\r\n", "\n").TrimEnd().TrimStart('\n');
        if (text.Length == 0) return;
        if (_pendingSeparator) Write("\n");
        Write(text);
        Write("\n");
        _pendingSeparator = true;
        Documents++;
    }

    /// <summary>Appends the whole of <paramref name="reader"/> as one document, streaming (for files of any size).</summary>
    public void CopyDocument(TextReader reader)
    {
        var buffer = new char[1 << 16];
        bool any = false, lastWasNewline = false, lastWasCr = false;
        int n;
        while ((n = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            var sb = new StringBuilder(n);
            for (int i = 0; i < n; i++)
            {
                char c = buffer[i];
                if (c == '\r') { lastWasCr = true; sb.Append('\n'); continue; }       // "\r\n" and lone "\r" → "\n"
                if (c == '\n' && lastWasCr) { lastWasCr = false; continue; }
                lastWasCr = false;
                sb.Append(c);
            }
            if (sb.Length == 0) continue;
            if (!any && _pendingSeparator) Write("\n");
            any = true;
            Write(sb.ToString());
            lastWasNewline = sb[^1] == '\n';
        }
        if (!any) return;
        if (!lastWasNewline) Write("\n");
        _pendingSeparator = true;
        Documents++;
    }

    private void Write(string s)
    {
        _writer.Write(s);
        Characters += CountCodePoints(s);
    }

    /// <summary>Unicode code points in <paramref name="s"/> (a surrogate pair counts once).</summary>
    public static long CountCodePoints(ReadOnlySpan<char> s)
    {
        long n = 0;
        foreach (char c in s) if (!char.IsLowSurrogate(c)) n++;
        return n;
    }

    public void Flush() => _writer.Flush();

    public void Dispose() => _writer.Dispose();
}

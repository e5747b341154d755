using System.Text;

namespace SharpSeek.Data.Cleaning;

/// <summary>
/// Unicode and whitespace normalisation of one document: NFC, "\r\n" and "\r" to "\n", control characters other than
/// "\n" and "\t" removed, every run of horizontal white space (tabs, NBSP, ideographic and other Unicode spaces) to one
/// space, line ends trimmed, runs of blank lines to one blank line, leading and trailing blank lines removed.
/// </summary>
public static class TextNormalizer
{
    public static string Normalize(string text)
    {
        string nfc = text.IsNormalized(NormalizationForm.FormC) ? text : text.Normalize(NormalizationForm.FormC);
        var sb = new StringBuilder(nfc.Length);
        var line = new StringBuilder();
        int blankRun = 0;
        bool any = false;
        void EndLine()
        {
            string l = line.ToString().Trim(' ');
            line.Clear();
            if (l.Length == 0) { blankRun++; return; }
            if (any) sb.Append(blankRun > 0 ? "\n\n" : "\n");
            sb.Append(l);
            any = true;
            blankRun = 0;
        }
        for (int i = 0; i < nfc.Length; i++)
        {
            char c = nfc[i];
            if (c == '\r') { if (i + 1 < nfc.Length && nfc[i + 1] == '\n') i++; EndLine(); continue; }
            if (c == '\n') { EndLine(); continue; }
            if (c == '\t' || char.IsWhiteSpace(c) || c == '\u200B' || c == '\uFEFF')
            {
                if (line.Length > 0 && line[^1] != ' ') line.Append(' ');
                continue;
            }
            if (char.IsControl(c)) continue;
            line.Append(c);
        }
        EndLine();
        return sb.ToString();
    }
}

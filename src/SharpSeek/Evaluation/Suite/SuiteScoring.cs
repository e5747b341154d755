namespace SharpSeek.Evaluation.Suite;

/// <summary>The suite's scoring maths as small pure functions.</summary>
public static class SuiteScoring
{
    /// <summary>exp(mean negative log-likelihood per token).</summary>
    public static double Perplexity(double meanNll) => Math.Exp(meanNll);

    /// <summary>Bits per character: total NLL (nats) over <paramref name="tokens"/> predictions / (ln 2 · <paramref name="chars"/>), comparable across tokenizers.</summary>
    public static double BitsPerChar(double meanNll, long tokens, long chars) => chars == 0 ? double.NaN : meanNll * tokens / (Math.Log(2) * chars);

    /// <summary>The index of the largest score (the first one on ties).</summary>
    public static int Argmax(IReadOnlyList<double> scores)
    {
        int best = 0;
        for (int i = 1; i < scores.Count; i++) if (scores[i] > scores[best]) best = i;
        return best;
    }

    /// <summary>Percentage of <paramref name="correct"/> out of <paramref name="total"/> (0 for none).</summary>
    public static double Percent(int correct, int total) => total == 0 ? 0 : 100.0 * correct / total;

    /// <summary>The last <paramref name="chars"/> characters of <paramref name="text"/>, starting at a line start when one is near (held-out tail).</summary>
    public static string HeldOutTail(string text, int chars)
    {
        if (chars <= 0 || chars >= text.Length) return text;
        int start = text.Length - chars;
        int nl = text.IndexOf('\n', start);
        return nl >= 0 && nl - start < 200 && nl + 1 < text.Length ? text[(nl + 1)..] : text[start..];
    }
}

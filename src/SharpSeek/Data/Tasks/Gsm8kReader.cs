using SharpSeek.Checkpoints;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SharpSeek.Data.Tasks;

/// <summary>
/// Reads GSM8K (Cobbe et al. 2021) JSONL: one object per line with <c>question</c> and <c>answer</c>, the answer being a
/// worked solution with calculator annotations <c>&lt;&lt;48/2=24&gt;&gt;</c> and a final line <c>#### 72</c>. Each line becomes
/// a <see cref="TaskExample"/>: prompt = question, answer = the number after <c>####</c> (normalised), completion = the
/// answer text. The data set's own train.jsonl / test.jsonl are its splits.
/// </summary>
public static class Gsm8kReader
{
    private static readonly Regex Annotation = new(@"<<[^<>]*>>", RegexOptions.CultureInvariant);

    /// <summary>
    /// All examples of <paramref name="path"/> (blank lines skipped). With <paramref name="stripAnnotations"/> the
    /// calculator annotations are removed from completions. Throws <see cref="DataException"/> naming the file and line
    /// for a line that is not a JSON object, lacks a string <c>question</c> or <c>answer</c>, or has no final <c>####</c> answer.
    /// </summary>
    public static IReadOnlyList<TaskExample> Read(string path, bool stripAnnotations = false)
    {
        if (!File.Exists(path)) throw new DataException($"GSM8K file {path} does not exist");
        var examples = new List<TaskExample>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(path, AtomicFiles.StrictUtf8))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            examples.Add(ParseLine(line, $"{path} line {lineNo}", stripAnnotations));
        }
        if (examples.Count == 0) throw new DataException($"GSM8K file {path} has no examples");
        return examples;
    }

    /// <summary>One JSONL line; <paramref name="where"/> ("file line N") prefixes error messages.</summary>
    public static TaskExample ParseLine(string line, string where, bool stripAnnotations = false)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw new DataException($"{where}: not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new DataException($"{where}: expected a JSON object with \"question\" and \"answer\"");
            string question = StringField(doc.RootElement, "question", where);
            string answerText = StringField(doc.RootElement, "answer", where);
            int marker = answerText.LastIndexOf("####", StringComparison.Ordinal);
            string? final = marker < 0 ? null : AnswerChecker.ExtractFinalAnswer(answerText);
            if (final is null) throw new DataException($"{where}: \"answer\" has no final \"#### <number>\" line");
            string completion = stripAnnotations ? Annotation.Replace(answerText, "") : answerText;
            return new TaskExample(question, final, completion);
        }
    }

    private static string StringField(JsonElement obj, string name, string where)
    {
        if (!obj.TryGetProperty(name, out var v)) throw new DataException($"{where}: missing field \"{name}\"");
        if (v.ValueKind != JsonValueKind.String) throw new DataException($"{where}: field \"{name}\" must be a string");
        string s = v.GetString()!;
        if (string.IsNullOrWhiteSpace(s)) throw new DataException($"{where}: field \"{name}\" is empty");
        return s;
    }
}

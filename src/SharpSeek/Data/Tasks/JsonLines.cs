using System.Text.Encodings.Web;
using System.Text.Json;
using SharpSeek.Checkpoints;

namespace SharpSeek.Data.Tasks;

/// <summary>Writes JSON Lines files atomically (temp file and rename, <see cref="AtomicFiles"/>): one compact object per line.</summary>
internal static class JsonLines
{
    private static readonly JsonWriterOptions Options = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };   // keeps <think>, + and non-ASCII readable

    /// <summary>One object per item of <paramref name="items"/> (materialised first, so a failing enumeration writes nothing), its fields written by <paramref name="fields"/>.</summary>
    public static void Write<T>(string path, IEnumerable<T> items, Action<Utf8JsonWriter, T> fields)
    {
        var list = items.ToList();
        AtomicFiles.Write(path, s =>
        {
            foreach (var item in list)
            {
                using (var w = new Utf8JsonWriter(s, Options))
                {
                    w.WriteStartObject();
                    fields(w, item);
                    w.WriteEndObject();
                }
                s.WriteByte((byte)'\n');
            }
        });
    }
}

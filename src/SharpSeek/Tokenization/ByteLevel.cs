using System.Text;

namespace SharpSeek.Tokenization;

/// <summary>GPT-2's reversible byte ↔ printable-character map (<c>bytes_to_unicode</c>, Radford et al. 2019, openai/gpt-2 encoder.py).</summary>
public static class ByteLevel
{
    /// <summary>Character standing for each byte value 0..255.</summary>
    public static IReadOnlyList<char> ByteToChar => s_byteToChar;

    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly int[] s_charToByte = BuildCharToByte();

    /// <summary>The byte-level string of the UTF-8 encoding of <paramref name="text"/>.</summary>
    public static string FromText(ReadOnlySpan<char> text)
    {
        var byteCount = Encoding.UTF8.GetByteCount(text);
        Span<byte> bytes = byteCount <= 1024 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(text, bytes);
        return FromBytes(bytes);
    }

    /// <summary>The byte-level string of raw bytes.</summary>
    public static string FromBytes(ReadOnlySpan<byte> bytes) =>
        string.Create(bytes.Length, bytes.ToArray(), static (span, b) => { for (var i = 0; i < b.Length; i++) span[i] = s_byteToChar[b[i]]; });

    /// <summary>Appends the bytes a byte-level token stands for; false if it holds a character outside the 256-character alphabet.</summary>
    public static bool TryAppendBytes(string token, List<byte> output)
    {
        foreach (var c in token)
        {
            var b = c < s_charToByte.Length ? s_charToByte[c] : -1;
            if (b < 0) return false;
            output.Add((byte)b);
        }
        return true;
    }

    /// <summary>UTF-8 decoding of <paramref name="bytes"/>; invalid or incomplete sequences become U+FFFD.</summary>
    public static string DecodeUtf8(List<byte> bytes) => Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    private static int[] BuildCharToByte()
    {
        var map = new int[512];
        Array.Fill(map, -1);
        for (var b = 0; b < 256; b++) map[s_byteToChar[b]] = b;
        return map;
    }
}

/// <summary>Decoding shared by the byte-level tokenizers: byte-level tokens → bytes, added tokens → their UTF-8 text.</summary>
internal static class ByteLevelDecoder
{
    public static string Decode(IEnumerable<int> ids, Func<int, string?> tokenOf, IReadOnlySet<int> addedIds)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            var token = tokenOf(id) ?? throw new TokenizerException($"Token id {id} is not in the vocabulary.");
            if (addedIds.Contains(id) || !ByteLevel.TryAppendBytes(token, bytes))
                bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
        }
        return ByteLevel.DecodeUtf8(bytes);
    }
}

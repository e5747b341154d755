using System.Text.Json;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Tokenization;

/// <summary>Every tokenizer fixture case (js-tiktoken "gpt2" oracle): ids exact and decode(encode(x)) == x.</summary>
[Trait("Category", "Reference")]
[Trait("Family", "tokenizer")]
public sealed class TokenizerReferenceTests
{
    public static TheoryData<string> Cases() => Fixtures.Cases(TokenizerCases.Family);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gpt2Tokenizer_EveryFixtureLine_IdsExactAndRoundTrips(string caseName)
    {
        var dir = Fixtures.CaseDir(TokenizerCases.Family, caseName);
        var tokenizer = Gpt2Tokenizer.FromFolder(dir);
        AssertAllLines(dir, tokenizer.Encode, tokenizer.Decode);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void HfTokenizer_TokenizerJsonFromFixtureFiles_IdsExactAndRoundTrips(string caseName)
    {
        var dir = Fixtures.CaseDir(TokenizerCases.Family, caseName);
        using var tmp = new TempDir();
        File.WriteAllText(tmp["tokenizer.json"], TokenizerCases.BuildTokenizerJson(dir, mergesAsArrays: false));
        var tokenizer = HfTokenizer.FromFolder(tmp.Path);
        AssertAllLines(dir, tokenizer.Encode, tokenizer.Decode);
    }

    private static void AssertAllLines(string dir, Func<string, IReadOnlyList<int>> encode, Func<IEnumerable<int>, string> decode)
    {
        var failures = new List<string>();
        var cases = TokenizerCases.Load(dir);
        Assert.NotEmpty(cases);
        foreach (var (text, ids) in cases)
        {
            var got = encode(text);
            if (!got.SequenceEqual(ids)) failures.Add($"ids {JsonSerializer.Serialize(text)}: expected [{string.Join(",", ids)}] got [{string.Join(",", got)}]");
            var back = decode(got);
            if (back != text) failures.Add($"round trip {JsonSerializer.Serialize(text)} -> {JsonSerializer.Serialize(back)}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}

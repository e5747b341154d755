using SharpSeek.Generation;

namespace SharpSeek.Tests.Generation;

public class TextAssemblyTests
{
    [Fact]
    public void IncrementalDetokenizer_MultiByteCharacters_EmittedWhole()
    {
        var tok = new ByteTokenizer();
        var detok = new IncrementalDetokenizer(tok);
        var deltas = tok.Encode("aé€😀b").Select(detok.Add).Where(d => d.Length > 0).ToList();
        Assert.Equal(new[] { "a", "é", "€", "😀", "b" }, deltas);
    }

    [Fact]
    public void IncrementalDetokenizer_IncompleteTail_FlushedAsReplacement()
    {
        var detok = new IncrementalDetokenizer(new ByteTokenizer());
        Assert.Equal("a", detok.Add('a'));
        Assert.Equal("", detok.Add(0xE2));
        Assert.Equal("\uFFFD", detok.Flush());
    }

    [Fact]
    public void IncrementalDetokenizer_InvalidBytes_ConcatenationEqualsFullDecode()
    {
        var tok = new ByteTokenizer();
        int[] ids = [0x41, 0xC3, 0x41, 0xFF, 0xE2, 0x82, 0x41, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0x80];
        var detok = new IncrementalDetokenizer(tok);
        string joined = string.Concat(ids.Select(detok.Add)) + detok.Flush();
        Assert.Equal(tok.Decode(ids), joined);
    }

    [Fact]
    public void StopStringFilter_StopAcrossPushes_CutAndHeldBack()
    {
        var f = new StopStringFilter(["END"]);
        Assert.Equal("ab", f.Push("abE"));      // "E" could start "END"
        Assert.Equal("", f.Push("N"));
        Assert.Equal("", f.Push("Dxyz"));
        Assert.True(f.Stopped);
        Assert.Equal("", f.Push("more"));
    }

    [Fact]
    public void StopStringFilter_FalseStart_Released()
    {
        var f = new StopStringFilter(["END"]);
        Assert.Equal("a", f.Push("aEN"));
        Assert.Equal("ENx", f.Push("x"));
        Assert.False(f.Stopped);
        Assert.Equal("", f.Flush());
    }

    [Fact]
    public void StopStringFilter_TwoStops_EarliestWins()
    {
        var f = new StopStringFilter(["zz", "b"]);
        Assert.Equal("a", f.Push("abzz"));
    }
}

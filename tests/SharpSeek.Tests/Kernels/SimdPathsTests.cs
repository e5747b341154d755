using SharpSeek.Kernels;

namespace SharpSeek.Tests.Kernels;

[Collection(SimdPathCollection.Name)]
public class SimdPathsTests
{
    [Theory]
    [InlineData("512", SimdPath.Vector512)]
    [InlineData("Vector512", SimdPath.Vector512)]
    [InlineData("256", SimdPath.Vector256)]
    [InlineData(" vector256 ", SimdPath.Vector256)]
    [InlineData("scalar", SimdPath.Scalar)]
    [InlineData("SCALAR", SimdPath.Scalar)]
    public void Parse_PathNames_GivePath(string text, SimdPath expected) => Assert.Equal(expected, SimdPaths.Parse(text));

    [Theory]
    [InlineData("128")]
    [InlineData("avx2")]
    [InlineData("")]
    public void Parse_OtherText_GivesNull(string text) => Assert.Null(SimdPaths.Parse(text));

    [Fact]
    public void Resolve_UnsetOrRunnableOrNot_GivesRequestedPathOrWidestOrNull()
    {
        Assert.Equal(SimdPaths.Widest, SimdPaths.Resolve(null));
        Assert.Equal(SimdPaths.Widest, SimdPaths.Resolve(" "));
        Assert.Equal(SimdPath.Scalar, SimdPaths.Resolve("scalar"));
        Assert.Equal(SimdPaths.CanRun(SimdPath.Vector256) ? SimdPath.Vector256 : SimdPaths.Widest, SimdPaths.Resolve("256"));
        Assert.Equal(SimdPaths.CanRun(SimdPath.Vector512) ? SimdPath.Vector512 : SimdPaths.Widest, SimdPaths.Resolve("512"));
        Assert.Null(SimdPaths.Resolve("fast"));
    }

    [Fact]
    public void Widest_IsRunnableAndNoWiderPathIs()
    {
        Assert.True(SimdPaths.CanRun(SimdPaths.Widest));
        Assert.True(SimdPaths.CanRun(SimdPath.Scalar));
        foreach (var wider in new[] { SimdPath.Vector256, SimdPath.Vector512 }.Where(p => p > SimdPaths.Widest))
            Assert.False(SimdPaths.CanRun(wider), $"{wider} runs but Widest is {SimdPaths.Widest}");
    }

    [Fact]
    public void Force_NestedScopes_SetAndRestoreCurrent()
    {
        var before = SimdPaths.Current;
        using (SimdPaths.Force(SimdPath.Scalar))
        {
            Assert.Equal(SimdPath.Scalar, SimdPaths.Current);
            Assert.True(SimdPaths.IsExplicit);
            Assert.Equal("Scalar (forced by a test)", SimdPaths.Describe());
            using (SimdPaths.Force(SimdPaths.Widest)) Assert.Equal(SimdPaths.Widest, SimdPaths.Current);
            Assert.Equal(SimdPath.Scalar, SimdPaths.Current);
        }
        Assert.Equal(before, SimdPaths.Current);
        Assert.Equal(SimdPaths.Requested is not null, SimdPaths.IsExplicit);
    }

    [Fact]
    public void Force_PathThisCpuCannotRun_ThrowsPlatformNotSupported()
    {
        var unsupported = new[] { SimdPath.Vector512, SimdPath.Vector256 }.Where(p => !SimdPaths.CanRun(p)).ToList();
        foreach (var path in unsupported) Assert.Throws<PlatformNotSupportedException>(() => SimdPaths.Force(path));
        Assert.Throws<PlatformNotSupportedException>(() => SimdPaths.Force((SimdPath)128));   // not a path: never runs
    }
}

using System.Reflection;
using SharpSeek.Kernels;
using Xunit.Sdk;

namespace SharpSeek.Tests.Kernels;

/// <summary>
/// One theory case on <paramref name="path"/> (its first argument; <paramref name="data"/> follow), skipped with the
/// reason where this CPU cannot run that path (e.g. Vector512 on an AVX2-only CPU, or with DOTNET_EnableAVX512F=0).
/// </summary>
/// <remarks>xunit 2 reads a data attribute's Skip when it discovers the case, so the skip shows in the test report.</remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class OnSimdPathAttribute : DataAttribute
{
    private readonly object[] _row;

    public OnSimdPathAttribute(SimdPath path, params object[] data)
    {
        _row = [path, .. data];
        if (!SimdPaths.CanRun(path)) Skip = $"{path} is not accelerated on this CPU (widest: {SimdPaths.Widest})";
    }

    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [_row];
}

/// <summary>
/// Tests that force a path with <see cref="SimdPaths.Force"/>: the path is process-wide, so they run alone, never
/// alongside another test that calls a kernel.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SimdPathCollection
{
    public const string Name = "SIMD paths forced";
}

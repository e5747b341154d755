using SharpSeek.Models.Offload;

namespace SharpSeek.Tests.Models.Offload;

public class OffloadMathTests
{
    private static readonly LayerDevice C = LayerDevice.Cpu, D = LayerDevice.Disk;

    [Fact]
    public void ParseMap_TwoRanges_GivesThemInOrder()
    {
        var ranges = OffloadMath.ParseMap("0-3:cpu, 4-11:disk", cudaDevices: 0);
        Assert.Equal([new LayerRange(0, 3, C), new LayerRange(4, 11, D)], ranges);
    }

    [Fact]
    public void ParseMap_SingleLayersAndCaseInsensitiveDevices_Parse()
    {
        var ranges = OffloadMath.ParseMap("0:CPU,1:Disk,2-2:disk", cudaDevices: 0);
        Assert.Equal([new LayerRange(0, 0, C), new LayerRange(1, 1, D), new LayerRange(2, 2, D)], ranges);
    }

    [Fact]
    public void ParseMap_CudaWhenTwoDevicesExist_GivesIndices()
    {
        var ranges = OffloadMath.ParseMap("0-1:cuda,2:cuda:1", cudaDevices: 2);
        Assert.Equal([new LayerRange(0, 1, new LayerDevice(DeviceTier.Cuda, 0)), new LayerRange(2, 2, new LayerDevice(DeviceTier.Cuda, 1))], ranges);
    }

    [Theory]
    [InlineData("0-3:cuda:0", 0, "does not exist here: CUDA is not available")]
    [InlineData("0-3:cuda", 0, "does not exist here: CUDA is not available")]
    [InlineData("0-3:cuda:2", 2, "'cuda:2' does not exist here: there are 2 CUDA devices")]
    [InlineData("0-3:gpu", 0, "unknown device 'gpu'")]
    [InlineData("0-3:mps", 0, "unknown device 'mps'")]
    [InlineData("0-3", 0, "'0-3' is not RANGE:DEVICE")]
    [InlineData("a-b:cpu", 0, "'a-b' is not a layer range")]
    [InlineData("5-3:cpu", 0, "'5-3' is empty")]
    [InlineData("-1:cpu", 0, "'-1' is not a layer range")]
    [InlineData("0-3:cpu,", 0, "'' is not RANGE:DEVICE")]
    [InlineData(" ", 0, "device map is empty")]
    public void ParseMap_BadInput_ThrowsConfigExceptionSayingWhy(string spec, int cuda, string message)
    {
        var e = Assert.Throws<ConfigException>(() => OffloadMath.ParseMap(spec, cuda));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void ParseJsonMap_Object_GivesRanges()
    {
        var ranges = OffloadMath.ParseJsonMap("""{"0-3": "cpu", "4-11": "disk"}""", cudaDevices: 0);
        Assert.Equal([new LayerRange(0, 3, C), new LayerRange(4, 11, D)], ranges);
    }

    [Theory]
    [InlineData("[1, 2]", "expected a JSON object")]
    [InlineData("{\"0-3\": 1}", "must be a string")]
    [InlineData("{}", "no layer ranges")]
    [InlineData("{\"0-3\": ", "invalid JSON")]
    [InlineData("{\"0-3\": \"cuda:0\"}", "CUDA is not available")]
    public void ParseJsonMap_BadInput_ThrowsConfigException(string json, string message)
    {
        var e = Assert.Throws<ConfigException>(() => OffloadMath.ParseJsonMap(json, cudaDevices: 0));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Expand_CoveringRanges_GivesOneDevicePerLayer()
    {
        var placement = OffloadMath.Expand([new LayerRange(2, 3, D), new LayerRange(0, 1, C)], 4);
        Assert.Equal([C, C, D, D], placement);
    }

    [Theory]
    [InlineData("0-3:cpu,3-5:disk", 6, "layer 3 is mapped twice ('0-3:cpu' and '3-5:disk')")]
    [InlineData("0-3:cpu", 6, "layers 4-5 not mapped (every layer 0-5 needs a device)")]
    [InlineData("0:cpu,2:cpu,4-5:disk", 6, "layers 1, 3 not mapped")]
    [InlineData("1-5:cpu", 6, "layer 0 not mapped")]
    [InlineData("0-6:cpu", 6, "layer range '0-6' is out of range: the model has 6 layers (0-5)")]
    [InlineData("0-5:cpu,12:disk", 6, "layer range '12' is out of range")]
    public void Expand_BadRanges_ThrowsConfigExceptionNamingThem(string spec, int layers, string message)
    {
        var e = Assert.Throws<ConfigException>(() => OffloadMath.Expand(OffloadMath.ParseMap(spec, 0), layers));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("300MB", 300_000_000L)]
    [InlineData("1.5GiB", 1_610_612_736L)]
    [InlineData("1.5 gib", 1_610_612_736L)]
    [InlineData("512KiB", 524_288L)]
    [InlineData("2G", 2_000_000_000L)]
    [InlineData("1000", 1000L)]
    [InlineData("10b", 10L)]
    [InlineData("0.5KB", 500L)]
    public void ParseSize_NumberAndUnit_GivesBytes(string text, long bytes) => Assert.Equal(bytes, OffloadMath.ParseSize(text));

    [Theory]
    [InlineData("lots", "is not a number with a unit")]
    [InlineData("-5MB", "is not a number with a unit")]
    [InlineData("5 parsecs", "unknown unit 'parsecs'")]
    [InlineData("0MB", "must be at least one byte")]
    [InlineData("0.1", "must be at least one byte")]
    [InlineData("", "is not a number")]
    public void ParseSize_BadInput_ThrowsConfigException(string text, string message)
    {
        var e = Assert.Throws<ConfigException>(() => OffloadMath.ParseSize(text));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Sizes_TensorsUnderLayerPrefixes_SplitIntoLayersAndResident()
    {
        (string, long[])[] tensors = [("wte", [10, 4]), ("h.0.w", [4, 4]), ("h.0.b", [4]), ("h.1.w", [4, 2]), ("h.10.w", [3]), ("ln_f", [4])];
        var (resident, units) = OffloadMath.Sizes(tensors, 2, i => $"h.{i}.", elementSize: 4);
        Assert.Equal((40 + 3 + 4) * 4, resident);                     // wte, h.10 (no such unit), ln_f
        Assert.Equal([(16 + 4) * 4, 8 * 4], units);
    }

    [Theory]
    [InlineData(135, new[] { true, true, false, false })]   // 100 + 10 + 10 + max(10, 10) = 130 ≤ 135; three kept would need 140
    [InlineData(140, new[] { true, true, true, true })]     // everything fits: no room for streaming needed
    [InlineData(139, new[] { true, true, false, false })]
    [InlineData(110, new[] { false, false, false, false })] // resident + one streamed layer exactly
    public void Plan_UniformLayers_KeepsLeadingLayersWhileTheyFit(long budget, bool[] onCpu)
    {
        var placement = OffloadMath.Plan(100, [10, 10, 10, 10], budget);
        Assert.Equal(onCpu.Select(c => c ? C : D), placement);
    }

    [Fact]
    public void Plan_LargeLaterLayer_ReservesRoomToStreamIt()
    {
        // Keeping layer 0 (30) would leave 50 + 30 + 40 = 120 > 100: the 40-byte layer must fit when it is streamed.
        Assert.Equal([D, D, D], OffloadMath.Plan(50, [30, 5, 40], 100));
        Assert.Equal([C, D, D], OffloadMath.Plan(50, [30, 5, 40], 124));     // 50 + 30 + 40 = 120; two kept would need 50 + 35 + 40 = 125
        Assert.Equal([C, C, C], OffloadMath.Plan(50, [30, 5, 40], 125));     // all kept: 50 + 75, nothing to stream
    }

    [Fact]
    public void Plan_BudgetBelowResidentPlusOneLayer_ThrowsNamingTheMinimum()
    {
        var e = Assert.Throws<ConfigException>(() => OffloadMath.Plan(100, [10, 12, 10], 111));
        Assert.Contains("smaller than the resident parts", e.Message);
        Assert.Contains("(112 bytes)", e.Message);                           // 100 + the largest layer
    }

    [Fact]
    public void FormatSize_Bytes_GivesBinaryUnits()
    {
        Assert.Equal("1.5 KiB", OffloadMath.FormatSize(1536));
        Assert.Equal("286.1 MiB", OffloadMath.FormatSize(300_000_000));
        Assert.Equal("512 B", OffloadMath.FormatSize(512));
    }

    [Fact]
    public void Resolve_CudaRangeWhereCudaExists_SaysNotSupported()
    {
        var ranges = OffloadMath.ParseMap("0-1:cpu,2-3:cuda:0", cudaDevices: 1);        // as a machine with one GPU parses it
        var e = Assert.Throws<ConfigException>(() => DeviceMap.FromRanges(ranges).Resolve(0, [1, 1, 1, 1]));
        Assert.Contains("cuda:0 is not supported", e.Message);
    }

    [Fact]
    public void Resolve_Budget_PlansWithResidentAndLayerSizes()
    {
        Assert.Equal([C, D, D], DeviceMap.Budget("125B").Resolve(100, [10, 10, 10]));     // 100 + 10 + 10 ≤ 125 < 100 + 10 + 10 + 10
    }
}

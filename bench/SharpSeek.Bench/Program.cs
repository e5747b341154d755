using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Decode;
using SharpSeek.Bench.Harness;
using SharpSeek.Bench.Train;
using SharpSeek.Bench.Moe;

namespace SharpSeek.Bench;

/// <summary>
/// Entry point of <c>bench/run NAME [--quick]</c>: runs one named benchmark and writes its JSON result.
/// <c>SharpSeek.Bench worker NAME …</c> is the child-process side of a benchmark (one measurement in a fresh
/// process, so thread and environment settings can differ between measurements of the same run).
/// </summary>
public static class Program
{
    /// <summary>Benchmarks by name. To add one: implement <see cref="IBenchmark"/> and list it here (and its apt packages in bench/run).</summary>
    private static readonly Dictionary<string, Func<IBenchmark>> Benchmarks = new(StringComparer.Ordinal)
    {
        ["decode"] = () => new DecodeBenchmark(),
        ["train"] = () => new TrainBenchmark(),
        ["precision"] = () => new PrecisionBenchmark(),
        ["decode-profile"] = () => new DecodeProfileBenchmark(),
        ["moe"] = () => new MoeBenchmark(),
        ["quant-kernels"] = () => new QuantKernelBench(),
        ["serve"] = () => new SharpSeek.Bench.Serve.ServeBenchmark(),
        ["offload"] = () => new SharpSeek.Bench.Offload.OffloadBenchmark(),
        ["scaling"] = () => new SharpSeek.Bench.Scaling.ScalingBenchmark(),
    };

    /// <summary>Child-process entry points by name: arguments in, one JSON object on stdout.</summary>
    private static readonly Dictionary<string, Func<string[], JsonObject>> Workers = new(StringComparer.Ordinal)
    {
        ["decode"] = DecodeWorker.Run,
        ["train"] = TrainWorker.Run,
        ["matmul"] = MatmulPeakWorker.Run,
        ["ops"] = OpProfileWorker.Run,
        ["trunk"] = TrunkProfileWorker.Run,
        ["decode-profile"] = DecodeProfile.Run,
        ["llamacpp"] = LlamaCppWorker.Run,
        ["offload"] = SharpSeek.Bench.Offload.OffloadWorker.Run,
        ["scaling-train"] = SharpSeek.Bench.Scaling.ScalingTrainWorker.Run,      // alone or as every rank under mpirun
        ["allreduce"] = SharpSeek.Bench.Scaling.AllReduceWorker.Run,             // under mpirun
        ["scaling-tables"] = SharpSeek.Bench.Scaling.ScalingTables.Run,          // docs/scaling.md's tables from a saved scaling.json
    };

    public static int Main(string[] args)
    {
        if (args.Length >= 2 && args[0] == "worker")
        {
            if (!Workers.TryGetValue(args[1], out var worker)) return Fail($"unknown worker '{args[1]}'");
            Console.WriteLine(worker(args[2..]).ToJsonString());
            return 0;
        }

        string? name = null, output = null, command = null;
        bool quick = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": quick = true; break;
                case "--out" when i + 1 < args.Length: output = args[++i]; break;
                case "--command" when i + 1 < args.Length: command = args[++i]; break;
                case var a when !a.StartsWith("--") && name is null: name = a; break;
                default: return Fail($"unexpected argument '{args[i]}' (usage: SharpSeek.Bench NAME [--quick] [--out FILE] [--command TEXT])");
            }
        }
        if (name is null || !Benchmarks.TryGetValue(name, out var create))
            return Fail($"name a benchmark: {string.Join(", ", Benchmarks.Keys)}");

        var context = new BenchContext(quick);
        var result = new JsonObject
        {
            ["benchmark"] = name,
            ["command"] = command ?? $"bench/run {name}{(quick ? " --quick" : "")}",
            ["quick"] = quick,
            ["started_utc"] = DateTime.UtcNow.ToString("o"),
        };
        context.SampleLoad("start");
        var body = create().Run(context);
        context.SampleLoad("end");
        result["finished_utc"] = DateTime.UtcNow.ToString("o");
        result["elapsed_s"] = Math.Round(context.Elapsed.TotalSeconds, 1);
        result["machine"] = Machine.Describe(context.LoadSamples);
        foreach (var (key, value) in body) result[key] = value?.DeepClone();

        string text = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        if (output is null) Console.Write(text);
        else
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
            string temp = output + ".tmp";
            File.WriteAllText(temp, text);
            File.Move(temp, output, overwrite: true);
            Console.Error.WriteLine($"wrote {output}");
        }
        return 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 2;
    }
}

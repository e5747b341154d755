using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Harness;

namespace SharpSeek.Bench.Decode;

/// <summary>
/// The model files <c>bench/run decode</c> measures, made with the CLI a user would run (<c>./sharpseek init</c>,
/// <c>quantize</c>, <c>export gguf</c>, <c>data prepare</c>, <c>train</c>, <c>eval</c>) under bench/results/decode-work/
/// and kept between runs (a file is made again only when missing). Random weights for speed, a small model trained
/// here for perplexity.
/// </summary>
public sealed class DecodeModels(string workDir, Action<string> log)
{
    /// <summary>Our dtypes and llama.cpp's nearest GGUF type: int8 per output channel vs q8_0 (blocks of 32), int4 group 64 vs q4_0 (blocks of 32).</summary>
    public static readonly (string DType, string? Bits, string Gguf)[] DTypes = [("f32", null, "f32"), ("int8", "8", "q8_0"), ("int4", "4", "q4_0")];

    /// <summary>Presets of <c>sharpseek init</c> for the two benchmark shapes.</summary>
    public static readonly Dictionary<string, string> Presets = new() { ["config_a"] = "config-a", ["gpt2_124m"] = "124m" };

    /// <summary>Quantization flags of every quantized model here: the head too (llama.cpp's q8_0/q4_0 files quantize token_embd, its head, as well).</summary>
    public const string QuantizeFlags = "--include-head";

    public string WorkDir { get; } = workDir;
    public JsonArray Commands { get; } = new();

    /// <summary>Folder of our <paramref name="dtype"/> model of <paramref name="shape"/> (made if missing).</summary>
    public string Ours(string shape, string dtype)
    {
        string f32 = Path.Combine(WorkDir, shape, "f32");
        if (!File.Exists(Path.Combine(f32, "config.json"))) Cli("init", "--preset", Presets[shape], "--out", Fresh(f32));
        if (dtype == "f32") return f32;
        var (_, bits, _) = DTypes.Single(d => d.DType == dtype);
        string dir = Path.Combine(WorkDir, shape, dtype);
        if (!File.Exists(Path.Combine(dir, "config.json")))
            Cli(["quantize", "--model", f32, "--out", Fresh(dir), "--bits", bits!, .. bits == "4" ? new[] { "--group-size", "64" } : [], QuantizeFlags]);
        return dir;
    }

    /// <summary>llama.cpp's GGUF of the same weights in the type nearest <paramref name="dtype"/> (made if missing).</summary>
    public string Gguf(string shape, string dtype)
    {
        var (_, _, type) = DTypes.Single(d => d.DType == dtype);
        string file = Path.Combine(WorkDir, shape, $"{type}.gguf");
        if (!File.Exists(file)) Cli("export", "gguf", "--model", Ours(shape, "f32"), "--out", file, "--type", type);
        return file;
    }

    /// <summary>Bytes of a model folder's safetensors files.</summary>
    public static long FolderBytes(string dir) => Directory.EnumerateFiles(dir, "*.safetensors").Sum(f => new FileInfo(f).Length);

    /// <summary>
    /// Perplexity of a small GPT-2 trained here (Tiny Shakespeare, characters, configs/train-shakespeare-char.json for
    /// <paramref name="steps"/> steps) on its validation split, in fp32, int8 and int4 (group 64), all with the head
    /// quantized: losses from <c>sharpseek eval</c>, increases as exp(Δloss) − 1.
    /// </summary>
    public JsonObject Perplexity(int steps)
    {
        string input = Environment.GetEnvironmentVariable("SHAKESPEARE") ?? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Repo.File("sharpseek"))!, "../shared/data/tinyshakespeare/input.txt"));
        if (!File.Exists(input)) return new JsonObject { ["skipped"] = $"Tiny Shakespeare not found at {input} (set SHAKESPEARE)" };
        string root = Path.Combine(WorkDir, $"ppl-shakespeare-char-{steps}");
        string data = Path.Combine(WorkDir, "shakespeare-char");
        if (!File.Exists(Path.Combine(data, "meta.json"))) Cli("data", "prepare", "--input", input, "--tokenizer", "char", "--out", Fresh(data));
        string run = Path.Combine(root, "train");
        string? model = LastCheckpoint(run);
        if (model is null)
        {
            Cli("train", "--config", Repo.File("configs/train-shakespeare-char.json"), "--data", data, "--out", Fresh(run), "--plain",
                "--set", $"max_steps={steps}", "--set", $"lr_decay_steps={steps}", "--set", $"eval_interval={steps}");
            model = LastCheckpoint(run) ?? throw new InvalidOperationException($"training wrote no checkpoint under {run}");
        }
        var result = new JsonObject
        {
            ["model"] = "GPT-2 4 layers × 128 wide, 4 heads, character vocabulary (65), block 64: configs/train-shakespeare-char.json",
            ["train_steps"] = steps,
            ["data"] = "Tiny Shakespeare, val split of `sharpseek data prepare --tokenizer char` (every token scored once)",
            ["quantization"] = $"int8 per output channel; int4 group 64, symmetric; both {QuantizeFlags}",
        };
        var losses = new Dictionary<string, double>();
        foreach (var (dtype, bits, _) in DTypes)
        {
            string dir = model;
            if (bits is not null)
            {
                dir = Path.Combine(root, dtype);
                if (!File.Exists(Path.Combine(dir, "config.json")))
                    Cli(["quantize", "--model", model, "--out", Fresh(dir), "--bits", bits, .. bits == "4" ? new[] { "--group-size", "64" } : [], QuantizeFlags]);
            }
            string output = Cli("eval", "--model", dir, "--data", data);
            losses[dtype] = ParseLoss(output);
            result[$"{dtype}_loss"] = losses[dtype];
            result[$"{dtype}_perplexity"] = Math.Round(Math.Exp(losses[dtype]), 4);
        }
        result["ppl_increase_int8_pct"] = Math.Round((Math.Exp(losses["int8"] - losses["f32"]) - 1) * 100, 3);
        result["ppl_increase_int4_pct"] = Math.Round((Math.Exp(losses["int4"] - losses["f32"]) - 1) * 100, 3);
        return result;
    }

    private static string? LastCheckpoint(string run) =>
        Directory.Exists(run) ? Directory.GetDirectories(run, "ckpt-*").Where(d => File.Exists(Path.Combine(d, "config.json"))).OrderBy(d => d, StringComparer.Ordinal).LastOrDefault() : null;

    /// <summary>The loss <c>sharpseek eval</c> printed ("loss 1.2345  perplexity …").</summary>
    internal static double ParseLoss(string output)
    {
        foreach (var line in output.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int i = Array.IndexOf(parts, "loss");
            if (i >= 0 && i + 1 < parts.Length && double.TryParse(parts[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out double loss)) return loss;
        }
        throw new InvalidOperationException($"no 'loss' in the output of sharpseek eval: {output}");
    }

    /// <summary>Removes a half-made folder or file left by an interrupted run; returns the path.</summary>
    private static string Fresh(string path)
    {
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        else if (File.Exists(path)) File.Delete(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return path;
    }

    /// <summary>Runs <c>./sharpseek ARGS</c> (OMP_WAIT_POLICY=PASSIVE, as the script sets), logs it, returns stdout; throws on a non-zero exit.</summary>
    private string Cli(params string[] args)
    {
        string line = "./sharpseek " + string.Join(' ', args.Select(a => a.Contains(' ') ? $"'{a}'" : a));
        log("  " + line);
        var info = new ProcessStartInfo(Repo.File("sharpseek")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        var start = Stopwatch.GetTimestamp();
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start ./sharpseek");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Commands.Add(new JsonObject { ["command"] = line, ["seconds"] = Math.Round(Stopwatch.GetElapsedTime(start).TotalSeconds, 1), ["exit"] = process.ExitCode });
        if (process.ExitCode != 0) throw new InvalidOperationException($"{line} failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
        return stdout;
    }
}

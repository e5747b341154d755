using System.CommandLine;
using System.Globalization;
using SharpSeek.Quantization;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek quantize</c>: a weight-only int8 / int4 copy of a model folder (docs/quantization.md).</summary>
public static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Float model folder (config.json + safetensors, tokenizer files).", Required = true };
        var output = new Option<string>("--out") { Description = "Folder to create for the quantized model (must not exist or be empty).", Required = true };
        var bits = new Option<int>("--bits") { Description = "8: int8, one scale per output channel; 4: int4 by groups of --group-size columns.", Required = true };
        var groupSize = new Option<int?>("--group-size") { Description = "int4 columns per scale: 32, 64 or 128 (default 64; not for --bits 8)." };
        var zeroPoint = new Option<bool>("--zero-point") { Description = "int4 with a uint8 zero point per group (asymmetric) instead of the fixed 8." };
        var includeHead = new Option<bool>("--include-head") { Description = "Quantize the output head too (GPT-2 with a tied head: the shared token embedding)." };
        var includeEmbeddings = new Option<bool>("--include-embeddings") { Description = "Quantize the token embedding too (lookups dequantize the rows they read)." };
        var command = new Command("quantize", "Write a weight-only quantized copy (int8 or int4) of a model folder that generate, eval and inspect load as they are.")
            { model, output, bits, groupSize, zeroPoint, includeHead, includeEmbeddings };
        command.SetSafeAction((parse, stdout) =>
        {
            int b = parse.GetValue(bits);
            int? g = parse.GetValue(groupSize);
            if (b == 8 && g is not null) throw new ConfigException("--group-size applies to --bits 4 only (int8 has one scale per output channel)");
            var config = new QuantizationConfig
            {
                Bits = b, GroupSize = b == 4 ? g ?? 64 : null, ZeroPoint = parse.GetValue(zeroPoint),
                IncludeHead = parse.GetValue(includeHead), IncludeEmbeddings = parse.GetValue(includeEmbeddings),
            };
            string outDir = parse.GetValue(output)!;
            var r = QuantizedFolder.Write(parse.GetValue(model)!, outDir, config);
            string kind = b == 8 ? "int8" : $"int4 g{config.GroupSize}{(config.ZeroPoint ? " zero point" : "")}";
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"quantized {r.QuantizedWeights} weights of {r.ModelType} to {kind}: {outDir}"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"size: {r.SourceBytes / 1e6:F2} MB -> {r.QuantizedBytes / 1e6:F2} MB ({(double)r.QuantizedBytes / r.SourceBytes:P1})"));
            return 0;
        });
        return command;
    }
}

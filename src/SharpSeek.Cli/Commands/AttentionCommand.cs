using System.CommandLine;
using System.Globalization;
using SharpSeek.Analysis;
using SharpSeek.Models;
using SharpSeek.Tokenization;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek attention</c>: heatmaps of a model's attention probabilities on a text (from the model contract's
/// OutputAttentions): one head, a grid of a layer's heads, and without --layer the mean entropy per head per layer.
/// </summary>
public static class AttentionCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (config.json, safetensors and a tokenizer).", Required = true };
        var text = new Option<string>("--text") { Description = "Text whose attention to show (at most the model's context in tokens).", Required = true };
        var layer = new Option<int?>("--layer") { Description = "Layer to draw (0-based); default: the last, plus the entropy summary of every layer." };
        var head = new Option<int?>("--head") { Description = "Head to draw alone with token labels (0-based); default: a grid of every head of the layer." };
        var output = new Option<string>("--out") { Description = "PNG file to write.", Required = true };
        var json = new Option<string?>("--json") { Description = "Also write the tokens, the entropies and the drawn probabilities to this JSON file." };
        var command = new Command("attention", "Draw a model's attention probabilities on a text as heatmaps (one head, a layer's heads, per-layer entropy).")
        {
            model, text, layer, head, output, json,
        };
        command.SetSafeAction((parse, stdout) =>
        {
            string modelDir = parse.GetValue(model)!;
            if (!Directory.Exists(modelDir)) throw new CheckpointException($"model folder {modelDir} does not exist");
            string outPath = parse.GetValue(output)!;
            if (!outPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new ConfigException($"--out must name a .png file, not {outPath}");
            var tokenizer = TokenizerLoader.Load(modelDir);
            var ids = tokenizer.Encode(parse.GetValue(text)!);
            using var lm = ModelLoader.Load(modelDir);
            lm.eval();
            var maps = AttentionMaps.Compute(lm, ids);
            int? askedLayer = parse.GetValue(layer), askedHead = parse.GetValue(head);
            int l = askedLayer ?? maps.Layers - 1;
            maps.CheckIndex(l, askedHead);
            var tokens = ids.Select(i => tokenizer.Decode([i])).ToList();
            var entropy = maps.EntropySummary();
            if (askedHead is int h)
                AttentionPlot.SaveHead(maps.Probs[l][h], tokens, outPath, $"{lm.ModelType} layer {l} head {h}");
            else
                AttentionPlot.SaveGrid(maps.Probs[l], tokens, outPath, $"layer {l}", askedLayer is null ? entropy : null);

            stdout.WriteLine($"{tokens.Count} tokens, {maps.Layers} layers x {maps.Heads} heads; mean attention entropy (nats) per head:");
            for (int k = 0; k < maps.Layers; k++)
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  layer {k,2}: {string.Join("  ", Enumerable.Range(0, maps.Heads).Select(j => entropy[k, j].ToString("F3", CultureInfo.InvariantCulture)))}"));
            stdout.WriteLine($"wrote {outPath}");
            if (parse.GetValue(json) is { } jsonPath)
            {
                var layers = askedLayer is null && askedHead is null ? Enumerable.Range(0, maps.Layers) : [l];
                TaskEval.WriteJson(jsonPath, new
                {
                    model = modelDir, model_type = lm.ModelType, text = parse.GetValue(text), token_ids = ids, tokens,
                    entropy = Enumerable.Range(0, maps.Layers).Select(k => Enumerable.Range(0, maps.Heads).Select(j => entropy[k, j])),
                    layers = layers.Select(k => new
                    {
                        layer = k,
                        heads = (askedHead is int hh ? [hh] : Enumerable.Range(0, maps.Heads)).Select(j => new { head = j, probs = Rows(maps.Probs[k][j]) }),
                    }),
                });
                stdout.WriteLine($"wrote {jsonPath}");
            }
            return 0;
        });
        return command;
    }

    private static IEnumerable<float[]> Rows(float[,] map) =>
        Enumerable.Range(0, map.GetLength(0)).Select(q => Enumerable.Range(0, map.GetLength(1)).Select(k => map[q, k]).ToArray());
}

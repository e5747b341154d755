using System.CommandLine;
using SharpSeek.Models;
using Spectre.Console;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek inspect</c>: config, parameter count, FLOPs per token, KV-cache bytes per token, tensor table.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (config.json + safetensors).", Required = true };
        var tensors = new Option<bool>("--tensors") { Description = "List every tensor (name, shape, dtype, bytes).", DefaultValueFactory = _ => true };
        var command = new Command("inspect", "Show a model folder's config, size, compute per token and KV-cache cost (reads headers only).") { model, tensors };
        command.SetSafeAction((parse, stdout) =>
        {
            var info = ModelInfo.Read(parse.GetValue(model)!);
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
            console.WriteLine($"model_type: {info.ModelType}");
            console.WriteLine("config.json:");
            console.WriteLine(info.ConfigJson.Trim());
            var summary = new Table().AddColumn("quantity").AddColumn(new TableColumn("value").RightAligned());
            summary.AddRow("parameters", info.ParameterCount.ToString("N0"));
            if (info.ActiveParameterCount != info.ParameterCount) summary.AddRow("active parameters per token", info.ActiveParameterCount.ToString("N0"));
            summary.AddRow("forward FLOPs per token (full context)", info.FlopsPerToken.ToString("N0"));
            summary.AddRow("KV-cache bytes per token (fp32)", info.KvCacheBytesPerToken.ToString("N0"));
            summary.AddRow("weights bytes", info.Tensors.Sum(t => t.End - t.Begin).ToString("N0"));
            console.Write(summary);
            if (parse.GetValue(tensors))
            {
                var table = new Table().AddColumn("tensor").AddColumn("shape").AddColumn("dtype").AddColumn(new TableColumn("bytes").RightAligned());
                foreach (var t in info.Tensors) table.AddRow(Markup.Escape(t.Name), Markup.Escape($"[{string.Join(", ", t.Shape)}]"), t.DType.ToString(), (t.End - t.Begin).ToString("N0"));
                console.Write(table);
            }
            return 0;
        });
        return command;
    }
}

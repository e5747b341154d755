using System.CommandLine;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek init</c>: a new random-weight model folder (Hugging Face layout) from a preset.</summary>
public static class InitCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "Model family: gpt2 or deepseek.", DefaultValueFactory = _ => "gpt2" };
        var preset = new Option<string>("--preset") { Description = "Preset name from configs/ (e.g. tiny, small, 124m).", DefaultValueFactory = _ => "tiny" };
        var output = new Option<string>("--out") { Description = "Folder to create (must not exist or be empty).", Required = true };
        var command = new Command("init", "Create a new model folder with random weights (config.json + model.safetensors).") { arch, preset, output };
        command.SetSafeAction((parse, stdout) =>
        {
            throw new SharpSeekException("init: not implemented yet");
        });
        return command;
    }
}

using System.CommandLine;
using System.Reflection;
using SharpSeek.Cli.Commands;

namespace SharpSeek.Cli;

/// <summary>The <c>sharpseek</c> command: build, train, evaluate and run GPT-2 and DeepSeek-style models.</summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the CLI in-process (tests call this directly).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("SharpSeek: build, pretrain, fine-tune, evaluate and run GPT-2 and DeepSeek-style language models in .NET.");
        foreach (var command in Commands()) root.Subcommands.Add(command);
        var result = root.Parse(args);
        if (result.Errors.Count > 0)
        {
            foreach (var e in result.Errors) stderr.WriteLine($"error: {e.Message}");
            return CliRunner.UserErrorExitCode;
        }
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        return result.Invoke(config);
    }

    /// <summary>Every verb: each static class in Commands/ with a <c>public static Command Create()</c>, by name.</summary>
    private static IEnumerable<Command> Commands() =>
        typeof(Program).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(InitCommand).Namespace && t.IsAbstract && t.IsSealed)
            .Select(t => t.GetMethod("Create", BindingFlags.Public | BindingFlags.Static, Type.EmptyTypes))
            .Where(m => m is not null && m.ReturnType == typeof(Command))
            .Select(m => (Command)m!.Invoke(null, null)!)
            .OrderBy(c => c.Name, StringComparer.Ordinal);
}

using System.CommandLine;

namespace SharpSeek.Cli;

/// <summary>Runs a verb's action: user errors (<see cref="SharpSeekException"/>) print one line to stderr and exit 2.</summary>
public static class CliRunner
{
    public const int UserErrorExitCode = 2;

    /// <summary>Wraps <paramref name="action"/> so that a <see cref="SharpSeekException"/> becomes "error: …" and exit code 2.</summary>
    public static void SetSafeAction(this Command command, Func<ParseResult, TextWriter, int> action)
    {
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            try { return action(parse, stdout); }
            catch (SharpSeekException e)
            {
                stderr.WriteLine($"error: {e.Message}");
                return UserErrorExitCode;
            }
        });
    }
}

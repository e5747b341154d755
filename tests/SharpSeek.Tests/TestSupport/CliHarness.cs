namespace SharpSeek.Tests.TestSupport;

/// <summary>Runs the <c>sharpseek</c> CLI in-process and captures its exit code, stdout and stderr.</summary>
public static class CliHarness
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = SharpSeek.Cli.Program.Run(args, stdout, stderr);
        return new Result(code, stdout.ToString(), stderr.ToString());
    }
}

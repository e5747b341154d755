using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SharpSeek.Tests.Cli;

/// <summary>
/// The <c>sharpseek</c> CLI as a child process (<c>dotnet SharpSeek.Cli.dll</c> from the test output folder), for what the
/// in-process <see cref="TestSupport.CliHarness"/> cannot do: signals and environment variables. Stdout lines are collected
/// as they arrive.
/// </summary>
internal sealed partial class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = new();
    private readonly System.Text.StringBuilder _stderr = new();

    private CliProcess(string[] args, IReadOnlyDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SharpSeek.Cli.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_lines) _lines.Add(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static CliProcess Start(string[] args, IReadOnlyDictionary<string, string>? environment = null) => new(args, environment);

    /// <summary>Runs to the end (at most <paramref name="timeout"/>) and returns exit code, stdout and stderr.</summary>
    public static TestSupport.CliHarness.Result Run(string[] args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        using var p = Start(args, environment);
        int code = p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60));
        return new TestSupport.CliHarness.Result(code, p.Stdout, p.Stderr);
    }

    public int Id => _process.Id;
    public string Stdout { get { lock (_lines) return string.Join('\n', _lines); } }
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Waits until a stdout line matches <paramref name="match"/>; false on timeout or exit.</summary>
    public bool WaitForLine(Func<string, bool> match, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            lock (_lines) if (_lines.Any(match)) return true;
            if (_process.HasExited) return false;
            Thread.Sleep(20);
        }
        return false;
    }

    /// <summary>Sends SIGTERM (what <c>timeout</c>, schedulers and container runtimes send), unlike Process.Kill's SIGKILL.</summary>
    public void Terminate()
    {
        if (Kill(_process.Id, SigTerm) != 0) throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Exit code after the process ended; kills it and throws if it runs past <paramref name="timeout"/>.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"sharpseek {string.Join(' ', _process.StartInfo.ArgumentList.Skip(1))} ran past {timeout.TotalSeconds} s");
        }
        _process.WaitForExit();                                                      // drains the redirected output
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    private const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

using System.Diagnostics;
using System.Text.Json.Nodes;

namespace SharpSeek.Bench.Harness;

/// <summary>Runs one measurement in a fresh process with its own environment and reads the JSON object it prints last.</summary>
public static class ChildProcess
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/>; a null value in <paramref name="env"/> removes that variable.</summary>
    public static JsonObject RunJson(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string?> env, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (key, value) in env)
        {
            if (value is null) info.Environment.Remove(key);
            else info.Environment[key] = value;
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} took longer than {timeout.TotalSeconds:F0} s");
        }
        process.WaitForExit();
        string last = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.TrimStart().StartsWith('{')) ?? "";
        if (process.ExitCode != 0 || last.Length == 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed (exit {process.ExitCode}): {Tail(stderr.Result)}");
        return JsonNode.Parse(last)!.AsObject();
    }

    /// <summary>
    /// <see cref="RunJson"/>, except that a child that times out or fails gives <c>{"failed": reason}</c> instead of an
    /// exception: the benchmark records it and goes on.
    /// </summary>
    public static JsonObject RunJsonOrFailure(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string?> env, TimeSpan timeout)
    {
        try { return RunJson(file, args, env, timeout); }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or System.ComponentModel.Win32Exception or System.Text.Json.JsonException)
        {
            return new JsonObject { ["failed"] = e.Message };
        }
    }

    /// <summary>This program, as a command line that runs <c>SharpSeek.Bench worker …</c> in a child process.</summary>
    public static (string File, List<string> Args) Self(params string[] args)
    {
        string host = Environment.ProcessPath ?? "dotnet";
        var list = new List<string>();
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") list.Add(typeof(ChildProcess).Assembly.Location);
        list.AddRange(args);
        return (host, list);
    }

    private static string Tail(string text) => text.Length <= 2000 ? text : "…" + text[^2000..];
}

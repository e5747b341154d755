namespace SharpSeek.Bench.Harness;

/// <summary>Files of this repository (baseline scripts, configs), found from the working directory or the program's folder upwards.</summary>
public static class Repo
{
    public static string File(string relative)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (System.IO.File.Exists(Path.Combine(dir.FullName, relative))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException($"{relative} not found above {Directory.GetCurrentDirectory()}");
    }
}

using SharpSeek.Kernels;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using SharpSeek.Checkpoints;
using SharpSeek.Distributed;
using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Training;

/// <summary>Loop position stored with a checkpoint: everything besides weights, optimizer moments and RNG needed to resume exactly.</summary>
public sealed record TrainerState
{
    /// <summary>Optimizer steps completed.</summary>
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("best_val_loss")] public double? BestValLoss { get; init; }
    [JsonPropertyName("best_step")] public int? BestStep { get; init; }
    [JsonPropertyName("data_state")] public string DataState { get; init; } = "";
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }
    [JsonPropertyName("elapsed_seconds")] public double ElapsedSeconds { get; init; }
    /// <summary>Schedule "time": the measured horizon (max_steps; lr_decay_steps is one less); null until measured, or schedule "steps".</summary>
    [JsonPropertyName("horizon_steps")] public int? HorizonSteps { get; init; }
    /// <summary>The precision the run computed in ("fp32" or "bf16"; "auto" resolved on that machine).</summary>
    [JsonPropertyName("precision")] public string? Precision { get; init; }
}

/// <summary>
/// Training checkpoints in <c>out_dir/ckpt-NNNNNNN/</c>: the model in Hugging Face layout (loadable by itself) plus
/// <c>optimizer.bin</c> (or, from a ZeRO-1 run, <see cref="ZeroCheckpoint.ManifestFile"/> and one optimizer shard per rank),
/// <c>rng.safetensors</c>, <c>trainer_state.json</c> and the resolved <c>train_config.json</c>.
/// Each is written into a temporary folder and renamed when complete; the last K and the best are kept.
/// </summary>
public sealed class CheckpointStore
{
    public const string Prefix = "ckpt-";
    public const string StateFile = "trainer_state.json";
    public const string ConfigFile = "train_config.json";
    public const string OptimizerFile = "optimizer.bin";
    public const string RngFile = "rng.safetensors";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string OutDir { get; }

    /// <summary>Test hook: called after each file is written into the temporary folder (throw to simulate a failing disk).</summary>
    public Action<string>? AfterFileWritten { get; set; }

    public CheckpointStore(string outDir) { OutDir = outDir; }

    public static string DirName(int step) => $"{Prefix}{step:D7}";

    /// <summary>Completed checkpoints, oldest first.</summary>
    public IReadOnlyList<(int Step, string Path)> List()
    {
        if (!Directory.Exists(OutDir)) return [];
        var result = new List<(int, string)>();
        foreach (var d in Directory.GetDirectories(OutDir, Prefix + "*"))
        {
            string name = Path.GetFileName(d);
            if (int.TryParse(name[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int step)) result.Add((step, d));
        }
        return result.OrderBy(x => x.Item1).ToList();
    }

    /// <summary>The newest checkpoint folder, or null.</summary>
    public string? Latest() => List() is { Count: > 0 } l ? l[^1].Path : null;

    /// <summary>
    /// Writes a checkpoint atomically, then prunes to the last <paramref name="keepLast"/> plus the best. Returns its folder.
    /// A <see cref="ZeroOptimizer"/> writes shards, gathered from the other ranks (which call <see cref="ZeroOptimizer.SendShardsToRoot"/> meanwhile).
    /// </summary>
    public string Save(CausalLM model, OptimizerHelper optimizer, TrainConfig config, TrainerState state, IEnumerable<string> extraFiles, int keepLast)
    {
        Directory.CreateDirectory(OutDir);
        string final = Path.Combine(OutDir, DirName(state.Step));
        string tmp = Path.Combine(OutDir, $".tmp-{DirName(state.Step)}-{Environment.ProcessId}");
        try
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            Directory.CreateDirectory(tmp);
            model.SavePretrained(tmp);
            foreach (var f in Directory.GetFiles(tmp)) AfterFileWritten?.Invoke(f);
            if (optimizer is ZeroOptimizer zero) zero.SaveShards(tmp, Done);
            else
            {
                optimizer.save_state_dict(Path.Combine(tmp, OptimizerFile));
                Done(Path.Combine(tmp, OptimizerFile));
            }
            using (var rng = torch.get_rng_state())
                SafeTensors.Save(Path.Combine(tmp, RngFile), [new("torch_cpu", rng)]);
            Done(Path.Combine(tmp, RngFile));
            File.WriteAllText(Path.Combine(tmp, ConfigFile), config.ToJson());
            Done(Path.Combine(tmp, ConfigFile));
            foreach (var src in extraFiles)
            {
                File.Copy(src, Path.Combine(tmp, Path.GetFileName(src)), overwrite: true);
                Done(Path.Combine(tmp, Path.GetFileName(src)));
            }
            File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, Json));
            Done(Path.Combine(tmp, StateFile));

            string? old = null;
            if (Directory.Exists(final)) { old = final + $".old-{Environment.ProcessId}"; Directory.Move(final, old); }
            Directory.Move(tmp, final);
            if (old is not null) Directory.Delete(old, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true); } catch (IOException) { }
            throw new CheckpointException($"could not write checkpoint {final} ({e.Message}); earlier checkpoints are unchanged", e);
        }
        Prune(keepLast, state.BestStep);
        return final;

        void Done(string path) => AfterFileWritten?.Invoke(path);
    }

    private void Prune(int keepLast, int? bestStep)
    {
        var all = List();
        for (int i = 0; i < all.Count - keepLast; i++)
            if (all[i].Step != bestStep) Directory.Delete(all[i].Path, recursive: true);
    }

    /// <summary>Reads the loop state and config of <paramref name="dir"/>; throws <see cref="CheckpointException"/> naming a missing or corrupt file.</summary>
    public static (TrainerState State, TrainConfig Config) ReadState(string dir)
    {
        if (!Directory.Exists(dir)) throw new CheckpointException($"{dir}: checkpoint folder not found");
        string statePath = Path.Combine(dir, StateFile), configPath = Path.Combine(dir, ConfigFile);
        foreach (var p in new[] { statePath, configPath, Path.Combine(dir, RngFile) })
            if (!File.Exists(p)) throw new CheckpointException($"{dir}: incomplete checkpoint, {Path.GetFileName(p)} is missing");
        if (ZeroCheckpoint.IsSharded(dir)) ZeroCheckpoint.ReadManifest(dir);                     // names a missing shard file
        else if (!File.Exists(Path.Combine(dir, OptimizerFile))) throw new CheckpointException($"{dir}: incomplete checkpoint, {OptimizerFile} is missing");
        TrainerState state;
        try { state = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(statePath)) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new CheckpointException($"{statePath}: corrupt trainer state ({e.Message})"); }
        TrainConfig config;
        try { config = TrainConfig.FromJsonText(File.ReadAllText(configPath), configPath); }
        catch (ConfigException e) { throw new CheckpointException($"{configPath}: corrupt training config ({e.Message})"); }
        return (state, config);
    }

    /// <summary>
    /// Restores optimizer moments and the torch RNG from <paramref name="dir"/>. Sharded (ZeRO-1) and unsharded optimizer
    /// state load into either kind of optimizer, re-sharded for this run's ranks; shards that do not add up to this model are refused.
    /// </summary>
    public static void RestoreOptimizerAndRng(string dir, OptimizerHelper optimizer)
    {
        bool sharded = ZeroCheckpoint.IsSharded(dir);
        string optPath = Path.Combine(dir, sharded ? ZeroCheckpoint.ManifestFile : OptimizerFile);
        try
        {
            switch (optimizer, sharded)
            {
                case (ZeroOptimizer zero, true): zero.LoadShards(dir); break;
                case (ZeroOptimizer zero, false): zero.LoadUnsharded(optPath); break;
                case (AdamW adamW, true): ZeroCheckpoint.LoadInto(adamW, dir); break;
                case (FusedAdamW fused, false): fused.LoadStateFrom(optPath); break;   // also reads files of TorchSharp's AdamW
                default: optimizer.load_state_dict(optPath); break;
            }
        }
        catch (Exception e) when (e is not (OutOfMemoryException or CheckpointException))
        {
            throw new CheckpointException($"{optPath}: corrupt optimizer state or a different model ({e.Message})");
        }
        using var f = SafeTensorsFile.Open(Path.Combine(dir, RngFile));
        if (!f.Contains("torch_cpu")) throw new CheckpointException($"{Path.Combine(dir, RngFile)}: no 'torch_cpu' generator state");
        using var rng = f.Load("torch_cpu");
        torch.set_rng_state(rng);
    }
}

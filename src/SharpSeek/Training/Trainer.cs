using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;
using SharpSeek.Kernels;
using SharpSeek.Data;
using TorchSharp.Modules;
using SharpSeek.Distributed;

namespace SharpSeek.Training;

/// <summary>Builds the model to train: a fresh one (<paramref name="checkpointDir"/> null; honours init_from) or the weights of a checkpoint folder.</summary>
public delegate CausalLM ModelBuilder(string? checkpointDir);

/// <summary>Training stopped with a clear reason the user can act on (a diverged loss).</summary>
public sealed class TrainingException : SharpSeekException
{
    public TrainingException(string message) : base(message) { }
}

/// <summary>Reported after every optimizer step.</summary>
public sealed record TrainProgress(int Step, int MaxSteps, double Loss, double Lr, double TokensPerSecond, TimeSpan Elapsed, TimeSpan? Eta);

/// <summary>Why <see cref="Trainer.Run"/> returned.</summary>
public enum TrainStopReason { Completed, TimeLimit, Cancelled }

/// <summary>Outcome of a run: where it stopped, its best validation loss, the last checkpoint and the loss of each step it ran.</summary>
public sealed record TrainResult(int Step, TrainStopReason Reason, double? BestValLoss, double? LastValLoss, string? Checkpoint,
    TimeSpan Elapsed, IReadOnlyDictionary<int, double> StepLosses)
{
    /// <summary>The objective's metrics of each step it ran (mean over the micro-batches); steps with none are absent.</summary>
    public IReadOnlyDictionary<int, IReadOnlyDictionary<string, double>> StepMetrics { get; init; } = new Dictionary<int, IReadOnlyDictionary<string, double>>();
}

/// <summary>
/// The one training loop for pretraining and fine-tuning (nanoGPT's train.py): AdamW with decay/no-decay groups, warmup +
/// cosine schedule, gradient accumulation and clipping, periodic evaluation, atomic checkpoints with exact resume,
/// metrics JSONL and a loss plot. What it optimises is an <see cref="IObjective"/> (loss, metrics, evaluation, data, frozen
/// models); the policy built by the <see cref="ModelBuilder"/> is the only model it trains and saves.
/// </summary>
public sealed class Trainer
{
    private readonly TrainConfig _config;
    private readonly IObjective _objective;
    private readonly ModelBuilder _createModel;

    public CheckpointStore Store { get; }

    /// <summary>Files (e.g. the tokenizer) copied into every checkpoint so it is a self-contained model folder.</summary>
    public IReadOnlyList<string> ExtraFiles { get; init; } = [];

    public Action<TrainProgress>? OnStep { get; set; }
    public Action<int, EvalResult>? OnEval { get; set; }
    public Action<string>? OnLog { get; set; }

    /// <summary>The parameters the optimizer updated in the last <see cref="Run"/>: the policy's trainable ones.</summary>
    public IReadOnlyList<Parameter> TrainedParameters { get; private set; } = [];

    /// <summary>Bytes of AdamW moments this process held in the last <see cref="Run"/> (with ZeRO-1: its slice only).</summary>
    public long OptimizerStateBytes { get; private set; }

    /// <summary>What this CPU multiplies in bf16; decides precision "auto" (default: <see cref="CpuFeatures.Bf16"/>).</summary>
    public Bf16Support Cpu { get; init; } = CpuFeatures.Bf16;

    /// <summary>
    /// Keep LibTorch's freed CPU memory in the process (<see cref="NativeHeap.RetainFreedMemory"/>, a process-wide glibc
    /// setting, so off unless asked for; <c>sharpseek train</c> turns it on): large-vocabulary steps then reuse their logits
    /// buffers instead of page-faulting them in every step.
    /// </summary>
    public bool RetainFreedMemory { get; init; }

    /// <summary>The clock of max_minutes and the time schedule (tests substitute one; default: the system clock).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>
    /// Data-parallel group (null: one process). Each rank's objective draws its shard of the global batch; the loop
    /// checks the config is the same on every rank, broadcasts rank 0's initial weights, averages gradients before the
    /// step, averages the reported loss, follows rank 0's stop decision and time-schedule horizon, and lets rank 0 alone
    /// write config, checkpoints, metrics and the plot (docs/distributed.md).
    /// </summary>
    public IDataParallel? Parallel { get; init; }

    /// <summary>Step metric of data-parallel runs: seconds of the step's gradient all-reduce (<see cref="IDataParallel.GradientReduceSeconds"/>), mean over the ranks.</summary>
    public const string AllreduceSecondsMetric = "allreduce_seconds";

    /// <summary>Trains the model of <paramref name="createModel"/> on <paramref name="objective"/>.</summary>
    public Trainer(TrainConfig config, IObjective objective, ModelBuilder createModel)
    {
        config.Validate();
        _config = config; _objective = objective; _createModel = createModel;
        Store = new CheckpointStore(config.OutDir);
    }

    /// <summary>Pretraining or fine-tuning: the <see cref="LanguageModelObjective"/> over windows of <paramref name="data"/> of the config's batch and block size.</summary>
    public Trainer(TrainConfig config, IBatchSource data, ModelBuilder createModel)
        : this(Validated(config), new LanguageModelObjective(data, config.BatchSize, config.BlockSize), createModel) { }

    private static TrainConfig Validated(TrainConfig config) { config.Validate(); return config; }

    /// <summary>
    /// Testing aid for fault handling (docs/distributed.md): "R:S" makes rank R's training loss NaN at step S (rank 0 for one
    /// process), so the loop's own non-finite check stops the run. Read once per <see cref="Run"/>; not for real runs.
    /// </summary>
    public const string FaultNanVariable = "SHARPSEEK_FAULT_NAN_AT";

    /// <summary>Testing aid like <see cref="FaultNanVariable"/>: "R:S" makes rank R sleep forever at the start of step S (a rank that hangs without dying).</summary>
    public const string FaultHangVariable = "SHARPSEEK_FAULT_HANG_AT";

    /// <summary>The step at which <paramref name="spec"/> ("rank:step", <paramref name="variable"/>) acts on <paramref name="rank"/>, or null.</summary>
    public static int? FaultStep(string? spec, int rank, string variable = FaultNanVariable)
    {
        if (string.IsNullOrEmpty(spec)) return null;
        var parts = spec.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out int r) || r < 0 ||
            !int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out int s) || s < 1)
            throw new ConfigException($"{variable} must be rank:step (e.g. 1:5), got \"{spec}\"");
        return r == rank ? s : null;
    }

    /// <summary>
    /// Trains until max_steps, max_minutes or cancellation (each writes a checkpoint). <paramref name="resumeFrom"/>: a
    /// checkpoint folder to continue from exactly, or null to start fresh (then out_dir must hold no checkpoint).
    /// Past max_minutes no step or evaluation starts and a running evaluation stops early; schedule "time" sets the
    /// horizon from the measured speed (<see cref="TimeBudget"/>).
    /// </summary>
    public TrainResult Run(string? resumeFrom = null, CancellationToken cancel = default)
    {
        var c = _config;
        bool root = Parallel?.IsRoot ?? true;
        int? faultNanStep = FaultStep(Environment.GetEnvironmentVariable(FaultNanVariable), Parallel?.Rank ?? 0);
        int? faultHangStep = FaultStep(Environment.GetEnvironmentVariable(FaultHangVariable), Parallel?.Rank ?? 0, FaultHangVariable);
        if (Parallel is MpiDataParallel mpi)                                    // before the first collective, so the start checks are watched too
            (mpi.GradientReduceDType, mpi.CollectiveTimeoutMinutes) = (c.GradReduceDType == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32, c.CollectiveTimeoutMinutes);
        Parallel?.CheckSame("config", c.ToJson());
        Parallel?.CheckSame("resume point", resumeFrom ?? "");
        if (Parallel is { Size: > 1 } dpData)                                   // every rank must read the same data
        {
            var files = DataFingerprint.ConfigDataFiles(c);
            DataFingerprint.CheckSame(dpData, $"data set ({string.Join(", ", files)})", files);
        }
        if (c.Threads > 0) torch.set_num_threads(c.Threads);
        if (RetainFreedMemory) NativeHeap.RetainFreedMemory();   // reuse the big logits buffers instead of page-faulting them in every step
        TrainerState state;
        if (resumeFrom is not null)
        {
            (state, var saved) = CheckpointStore.ReadState(resumeFrom);
            if (saved.ModelShapeDifference(c) is { } diff)
                throw new ConfigException($"cannot resume from {resumeFrom}: the model shape differs ({diff})");
        }
        else
        {
            if (Store.Latest() is { } existing)
                throw new ConfigException($"{c.OutDir} already holds checkpoint {Path.GetFileName(existing)}; resume it or choose another out_dir");
            state = new TrainerState();
        }
        bool timeSchedule = c.Schedule == "time";
        if (timeSchedule) c = state.HorizonSteps is { } kept ? TimeBudget.WithHorizon(c, kept) : TimeBudget.Unmeasured(c);   // resume keeps the horizon

        torch.manual_seed(c.Seed);
        _objective.Reseed(DataSplit.Train, (ulong)c.Seed);
        var model = _createModel(resumeFrom);
        _objective.Validate(model);
        model.train();
        var precision = PrecisionChoice.Resolve(c.Precision, Cpu);
        if (precision.Bf16) model.ComputeDType = ScalarType.BFloat16;

        var groups = ParamGroups.Assign(model, c.DecayEmbeddings);
        var parameters = groups.All.ToList();
        CheckFrozen(_objective.FrozenModels, model, parameters);
        TrainedParameters = parameters;
        if (Parallel is { Size: > 1 } dp) dp.BroadcastFromRoot(parameters);   // one starting point, whatever each rank's RNG did
        long residentBefore = Environment.WorkingSet;                                   // the moments are zero-filled, so their pages count at once
        using OptimizerHelper optimizer = c.ZeroStage == 1 && Parallel is { Size: > 1 } dpZero ? new ZeroOptimizer(groups, c, dpZero) : groups.CreateAdamW(c);
        long residentGrowth = Environment.WorkingSet - residentBefore;
        if (resumeFrom is not null)
        {
            CheckpointStore.RestoreOptimizerAndRng(resumeFrom, optimizer);
            _objective.RestoreState(state.DataState);
        }
        Directory.CreateDirectory(c.OutDir);
        if (root) File.WriteAllText(Path.Combine(c.OutDir, CheckpointStore.ConfigFile), c.ToJson());
        var metrics = new MetricsLog(c.OutDir);
        if (root) metrics.ResumeAt(state.Step);
        OnLog?.Invoke($"parameters: {groups.Decay.Sum(p => p.Param.numel()):N0} with weight decay, {groups.NoDecay.Sum(p => p.Param.numel()):N0} without; " +
                      $"{c.TokensPerStep:N0} tokens per step, precision {precision.Resolved}" + (resumeFrom is null ? "" : $"; resuming from step {state.Step}"));
        long trainable = parameters.Sum(p => p.numel()), total = CountParameters(model);
        OnLog?.Invoke(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"trainable parameters: {trainable:N0} of {total:N0} ({100.0 * trainable / Math.Max(1, total):F2}%)"));
        OnLog?.Invoke(precision.Reason);
        if (Parallel is { } dpLog) OnLog?.Invoke($"data parallel: rank {dpLog.Rank} of {dpLog.Size}; each rank trains on its 1/{dpLog.Size} of every batch and gradients are averaged");
        OptimizerStateBytes = optimizer is ZeroOptimizer zeroLog ? zeroLog.StateBytes : ZeroOptimizer.MomentBytes((AdamW)optimizer);
        OnLog?.Invoke(OptimizerStateLine(optimizer, OptimizerStateBytes, c.ZeroStage, residentGrowth));
        if (precision.Emulated) OnLog?.Invoke($"warning: {CpuFeatures.DescribeSlowdown(CpuFeatures.Bf16MatmulSlowdown())}; set precision auto or fp32");
        if (timeSchedule)
            OnLog?.Invoke(state.HorizonSteps is { } h ? $"time schedule: horizon {h} steps (kept from the checkpoint)"
                                                      : $"time schedule: the horizon is set from the speed measured until step {TimeBudget.MeasureUntil(c.WarmupSteps, state.Step)}");

        int startStep = state.Step, step = startStep;
        long started = Clock.GetTimestamp();
        TimeSpan Elapsed() => TimeSpan.FromSeconds(state.ElapsedSeconds) + Clock.GetElapsedTime(started);
        bool PastDeadline() => c.MaxMinutes > 0 && Elapsed().TotalMinutes >= c.MaxMinutes;
        int? horizon = state.HorizonSteps;
        int measureUntil = TimeBudget.MeasureUntil(c.WarmupSteps, startStep), timedAfter = TimeBudget.TimedAfter(startStep, measureUntil);
        double timedSeconds = 0;                             // time schedule: steps timed for the horizon
        int timedSteps = 0;
        double? evalSeconds = null, checkpointSeconds = null;
        int lastSaved = resumeFrom is null ? -1 : startStep;
        double trainSeconds = 0, windowSeconds = 0;   // window: steps since the last metrics line (smooths tokens/s)
        long windowTokens = 0;
        long tokensSeen = state.TokensSeen;
        double? bestVal = state.BestValLoss, lastVal = null;
        int? bestStep = state.BestStep;
        string? lastCheckpoint = resumeFrom;
        var stepLosses = new Dictionary<int, double>();
        var stepMetrics = new Dictionary<int, IReadOnlyDictionary<string, double>>();
        TrainStopReason? stop = null;

        while (true)
        {
            bool atResumePoint = resumeFrom is not null && step == startStep;
            bool pastDeadline = PastDeadline();
            if (step >= c.MaxSteps) stop = TrainStopReason.Completed;
            else if (cancel.IsCancellationRequested) stop = TrainStopReason.Cancelled;
            else if (pastDeadline) stop = TrainStopReason.TimeLimit;
            // the last weights are evaluated, unless the time is up: no evaluation starts past the deadline
            bool evalNow = (step % c.EvalInterval == 0 || stop is not null) && !atResumePoint && !pastDeadline;
            if (evalNow && root)
            {
                long e0 = Clock.GetTimestamp();
                var val = ObjectiveEvaluation.Estimate(_objective, model, DataSplit.Val, c.EvalIters, (ulong)c.Seed, stopEarly: PastDeadline);
                lastVal = val.Loss;
                if (bestVal is null || val.Loss < bestVal) { bestVal = val.Loss; bestStep = step; }
                metrics.Append(new MetricsRecord { Step = step, ValLoss = val.Loss, Lr = LrSchedule.For(c, step), Elapsed = Elapsed().TotalSeconds,
                                                   EvalBatches = val.Batches, Metrics = MetricsRecord.Named(val.Metrics, prefix: "val_") });
                LossPlot.Save(metrics.Records, Path.Combine(c.OutDir, LossPlot.FileName), $"{Path.GetFileName(Path.GetFullPath(c.OutDir))}: {c.Arch} {c.NLayer}L {c.NHead}H {c.NEmbd}C, {precision.Resolved}");
                OnEval?.Invoke(step, val);
                evalSeconds = Clock.GetElapsedTime(e0).TotalSeconds;
                if (stop is null && PastDeadline()) stop = TrainStopReason.TimeLimit;   // the evaluation ran into the deadline
            }
            if (Parallel is { Size: > 1 } dpStop) stop = AgreeOnStop(dpStop, stop);            // rank 0's clock and signals decide for all

            bool checkpointNow = !atResumePoint && step > 0 && step != lastSaved &&
                                 (stop is not null || evalNow || (c.CheckpointInterval > 0 && step % c.CheckpointInterval == 0));
            // rank 0 decides (its evaluation and clock decide evalNow) whenever it may save, a step every rank knows
            bool maySave = !atResumePoint && step > 0 && (stop is not null || step % c.EvalInterval == 0 || (c.CheckpointInterval > 0 && step % c.CheckpointInterval == 0));
            // (and never otherwise: a rank whose own SIGTERM came before rank 0's had evalNow, so checkpointNow, set alone)
            if (Parallel is { Size: > 1 } dpDecide) checkpointNow = maySave && dpDecide.BroadcastFromRoot(checkpointNow ? 1 : 0) == 1;
            if (checkpointNow && root)
            {
                long k0 = Clock.GetTimestamp();
                var s = new TrainerState
                {
                    Step = step, BestValLoss = bestVal, BestStep = bestStep, DataState = _objective.SaveState(),
                    TokensSeen = tokensSeen, ElapsedSeconds = Elapsed().TotalSeconds, HorizonSteps = horizon, Precision = precision.Resolved,
                };
                lastCheckpoint = Store.Save(model, optimizer, c, s, ExtraFiles, c.KeepLast);
                checkpointSeconds = Clock.GetElapsedTime(k0).TotalSeconds;
            }
            if (checkpointNow && !root)
            {
                if (optimizer is ZeroOptimizer zeroSave) zeroSave.SendShardsToRoot();   // rank 0 gathers the slices while it writes
                lastCheckpoint = Path.Combine(c.OutDir, CheckpointStore.DirName(step));
            }
            if (checkpointNow) lastSaved = step;
            // the others wait until rank 0 has written it: an error on another rank (MPI_Abort) cannot cut the write short
            if (checkpointNow && Parallel is { Size: > 1 } dpSaved) dpSaved.BroadcastFromRoot(1);
            if (stop is not null) break;

            // ---- one optimizer step ----
            if (step + 1 == faultHangStep) Thread.Sleep(Timeout.Infinite);          // testing aid (FaultHangVariable)
            var t0 = Clock.GetTimestamp();
            double lr = LrSchedule.For(c, step);
            foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
            double lossSum = 0;
            long stepTokens = 0;
            var stepMetricSums = new Dictionary<string, double>();
            for (int micro = 0; micro < c.GradAccum; micro++)
            {
                using var scope = NewDisposeScope();
                var objectiveStep = _objective.Step(model, DataSplit.Train, StepMode.Train);
                var loss = objectiveStep.Loss;
                if (step + 1 == faultNanStep) loss = loss * float.NaN;                // testing aid (FaultNanVariable)
                double value = loss.item<float>();
                if (!double.IsFinite(value))
                    throw new TrainingException($"the training loss became {value} at step {step + 1}; training stopped. " +
                                                (lastCheckpoint is null ? "No checkpoint was written yet." : $"The last good checkpoint is {lastCheckpoint}."));
                double share = Parallel is { Size: > 1 } dpShare && objectiveStep.Weight is { } weight ? RankShare(dpShare, weight) : 1;
                if (share != 1) loss = loss * share;                                  // this rank's part of the global mean
                (c.GradAccum == 1 ? loss : loss / c.GradAccum).backward();
                lossSum += value * share;
                stepTokens += objectiveStep.Tokens;
                foreach (var (name, v) in objectiveStep.Metrics) stepMetricSums[name] = stepMetricSums.GetValueOrDefault(name) + v;
            }
            Parallel?.AverageGradients(parameters);                                   // before clipping: every rank clips the same mean
            if (c.GradClip > 0) nn.utils.clip_grad_norm_(parameters, c.GradClip);
            optimizer.step();
            optimizer.zero_grad();
            model.AfterOptimizerStep(Parallel is { Size: > 1 } dpLoads ? dpLoads.Sum : null);   // DeepSeek: the expert loads of every rank's tokens
            step++;

            double seconds = Clock.GetElapsedTime(t0).TotalSeconds;
            trainSeconds += seconds;
            if (timeSchedule && horizon is null)
            {
                if (step > timedAfter) { timedSeconds += seconds; timedSteps++; }     // not the first steps (kernels still warming up)
                if (step >= measureUntil)
                {
                    double perStep = timedSeconds / timedSteps;
                    double perEval = evalSeconds ?? TimeBudget.EstimateEvalSeconds(perStep, c.EvalIters, c.GradAccum);
                    horizon = TimeBudget.HorizonSteps(step, Elapsed().TotalSeconds, c.MaxMinutes * 60, perStep, perEval, c.EvalInterval,
                                                      checkpointSeconds ?? 0, c.CheckpointInterval);
                    if (Parallel is { } dpHorizon) horizon = dpHorizon.BroadcastFromRoot(horizon.Value);   // one schedule on every rank
                    c = TimeBudget.WithHorizon(c, horizon.Value);
                    if (root) File.WriteAllText(Path.Combine(c.OutDir, CheckpointStore.ConfigFile), c.ToJson());
                    OnLog?.Invoke(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"time schedule: {perStep * 1000:F0} ms per step, {perEval:F2} s per evaluation{(evalSeconds is null ? " (estimated)" : "")} every {c.EvalInterval} steps → " +
                        $"max_steps {horizon}, lr_decay_steps {c.LrDecaySteps}: lr reaches min_lr {c.MinLr:G3} at the {c.MaxMinutes:G} minute limit"));
                }
            }
            tokensSeen += stepTokens;
            double meanLoss = lossSum / c.GradAccum;
            var meanMetrics = stepMetricSums.ToDictionary(kv => kv.Key, kv => kv.Value / c.GradAccum);
            if (Parallel is { Size: > 1 } dpReduce) meanMetrics[AllreduceSecondsMetric] = dpReduce.GradientReduceSeconds;   // averaged over the ranks below
            if (Parallel is { Size: > 1 } dpLoss) (meanLoss, meanMetrics) = AverageOverRanks(dpLoss, meanLoss, meanMetrics);
            stepLosses[step] = meanLoss;
            if (meanMetrics.Count > 0) stepMetrics[step] = meanMetrics;
            windowSeconds += seconds;
            windowTokens += stepTokens;
            double tokensPerSecond = windowTokens / windowSeconds;
            double etaSeconds = trainSeconds / (step - startStep) * ((double)c.MaxSteps - step);
            if (c.MaxMinutes > 0) etaSeconds = Math.Min(etaSeconds, Math.Max(0, c.MaxMinutes * 60 - Elapsed().TotalSeconds));
            var eta = TimeSpan.FromSeconds(Math.Min(etaSeconds, TimeSpan.MaxValue.TotalSeconds / 2));
            OnStep?.Invoke(new TrainProgress(step, c.MaxSteps, meanLoss, lr, tokensPerSecond, Elapsed(), eta));
            if (root && (step % c.LogInterval == 0 || step == c.MaxSteps))
            {
                metrics.Append(new MetricsRecord { Step = step, Loss = meanLoss, Lr = lr, TokensPerSecond = tokensPerSecond, Elapsed = Elapsed().TotalSeconds,
                                                   MoeMaxOverMean = model.ExpertLoadImbalance is { Count: > 0 } load ? load.ToArray() : null,
                                                   Metrics = MetricsRecord.Named(meanMetrics) });
                windowSeconds = 0; windowTokens = 0;
            }
        }
        return new TrainResult(step, stop.Value, bestVal, lastVal, lastCheckpoint, Elapsed(), stepLosses) { StepMetrics = stepMetrics };
    }

    /// <summary>"optimizer state: X MiB on this rank (…)" of the start log.</summary>
    private static string OptimizerStateLine(OptimizerHelper optimizer, long bytes, int zeroStage, long residentGrowth)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string how = optimizer is ZeroOptimizer z ? string.Create(inv, $"(ZeRO-1 over {z.Size} ranks; {z.UnshardedStateBytes / 1048576.0:F2} MiB unsharded)")
                   : zeroStage == 1 ? "(zero_stage 1 with one process: not sharded)" : "(not sharded)";
        return string.Create(inv, $"optimizer state: {bytes / 1048576.0:F2} MiB ({bytes:N0} bytes) on this rank {how}; process RSS +{residentGrowth / 1048576.0:F1} MiB while creating it");
    }

    /// <summary>Rank 0's stop decision on every rank (each rank's clock and signals may differ; all must leave the loop together).</summary>
    private static TrainStopReason? AgreeOnStop(IDataParallel parallel, TrainStopReason? stop)
    {
        int agreed = parallel.BroadcastFromRoot(stop is { } s ? (int)s : -1);
        return agreed < 0 ? null : (TrainStopReason)agreed;
    }

    /// <summary>
    /// w·N/W for a rank whose loss is a mean over <paramref name="weight"/> = w of the W items of the whole global micro-batch
    /// (<see cref="ObjectiveStep.Weight"/>): the mean over ranks of loss_r·w_r·N/W is Σ_r w_r·loss_r / W, the mean over all W
    /// items, and so is the averaged gradient. 1 when no rank has an item.
    /// </summary>
    private static double RankShare(IDataParallel parallel, double weight)
    {
        var mean = new[] { weight };
        parallel.Average(mean);                                                       // W / N
        return mean[0] > 0 ? weight / mean[0] : 1;
    }

    /// <summary>The step's loss and metrics averaged over the ranks (each rank's are means over its equal shard, so this is the global mean).</summary>
    private static (double Loss, Dictionary<string, double> Metrics) AverageOverRanks(IDataParallel parallel, double loss, Dictionary<string, double> metrics)
    {
        var names = metrics.Keys.Order(StringComparer.Ordinal).ToList();
        var values = new double[names.Count + 1];
        values[0] = loss;
        for (int i = 0; i < names.Count; i++) values[i + 1] = metrics[names[i]];
        parallel.Average(values);
        return (values[0], names.Select((n, i) => (n, values[i + 1])).ToDictionary(x => x.n, x => x.Item2));
    }

    /// <summary>
    /// Throws unless every frozen model of the objective is frozen: not the policy, in eval mode, no parameter with
    /// requires_grad and none shared with the optimized ones (so the optimizer never touches it and checkpoints hold only the
    /// policy). Frozen weights may be shared with the policy's frozen ones (a LoRA policy's base as DPO's reference).
    /// </summary>
    private static void CheckFrozen(IReadOnlyList<CausalLM> frozenModels, CausalLM policy, IReadOnlyList<Parameter> optimized)
    {
        var optimizedData = optimized.Select(DataPointer).ToHashSet();
        foreach (var frozen in frozenModels)
        {
            string name = $"the objective's frozen {frozen.ModelType} model";
            if (ReferenceEquals(frozen, policy)) throw new InvalidOperationException($"{name} is the policy being trained");
            if (frozen.training) throw new InvalidOperationException($"{name} is in training mode (call eval())");
            foreach (var (pname, p) in frozen.named_parameters())
            {
                if (p.requires_grad) throw new InvalidOperationException($"{name} has parameter {pname} with requires_grad set");
                if (optimizedData.Contains(DataPointer(p))) throw new InvalidOperationException($"{name} shares parameter {pname} with the policy");
            }
        }
    }

    /// <summary>Distinct parameters of <paramref name="model"/>, trainable or not (tied tensors once).</summary>
    public static long CountParameters(CausalLM model)
    {
        var seen = new HashSet<IntPtr>();
        return model.parameters().Where(p => seen.Add(DataPointer(p))).Sum(p => p.numel());
    }

    private static unsafe IntPtr DataPointer(Tensor t) => (IntPtr)TensorData.Pointer(t);
}

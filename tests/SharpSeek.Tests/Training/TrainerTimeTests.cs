using System.Diagnostics;
using System.Text.Json;
using SharpSeek.Training;

namespace SharpSeek.Tests.Training;

/// <summary>max_minutes inside evaluation and checkpointing, and the time-budget schedule (<see cref="TimeBudget"/>).</summary>
public class TrainerTimeTests
{
    /// <summary>
    /// Schedule "time", 1 minute: on a <see cref="ManualClock"/> every training forward takes 1 s and every evaluation
    /// batch 0.1 s, so the horizon is hand-computable: timed until step 6 (warm-up), elapsed 0.2 + 6 = 6.2 s, eval 0.2 s
    /// every 10 steps → 6 + ⌊(53.8·0.98 − 0.2) / 1.02⌋ = 57.
    /// </summary>
    private static (TrainConfig Config, Func<string?, Trainer> Create) TimeRun(string dir)
    {
        var config = TrainingTestData.Config(dir) with
        {
            Schedule = "time", MaxMinutes = 1, MaxSteps = 8, WarmupSteps = 6, EvalInterval = 10, EvalIters = 2, CheckpointInterval = 0,
        };
        return (config, _ =>
        {
            var clock = new ManualClock();
            ModelBuilder factory = d =>
            {
                var m = (TinyLM)TrainingTestData.Factory()(d);
                m.OnForward = training => clock.Advance(training ? 1.0 : 0.1);
                return m;
            };
            return new Trainer(config, TrainingTestData.Data(), factory) { Clock = clock };
        });
    }

    private static IReadOnlyList<MetricsRecord> Metrics(string dir)
    {
        var log = new MetricsLog(dir);
        log.ResumeAt(int.MaxValue);
        return log.Records;
    }

    [Fact]
    public void Run_TimeSchedule_SetsHandComputedHorizonAndEndsAtMinLrWithinBudget()
    {
        string dir = TrainingTestData.TempDir();
        var (config, create) = TimeRun(dir);
        var trainer = create(null);
        var result = trainer.Run();

        Assert.Equal((57, TrainStopReason.Completed), (result.Step, result.Reason));
        var (state, saved) = CheckpointStore.ReadState(trainer.Store.Latest()!);
        Assert.Equal((57, 57, 56), (state.HorizonSteps, saved.MaxSteps, saved.LrDecaySteps));
        Assert.InRange(result.Elapsed.TotalSeconds, 0.9 * 60, 60);                 // fills the budget, ends before the deadline
        double lastLr = Metrics(dir).Single(r => r.Step == 57 && r.Loss is not null).Lr;
        Assert.Equal(config.MinLr, lastLr, 15);                                    // the last step runs at min_lr
        double before = Metrics(dir).Single(r => r.Step == 56 && r.Loss is not null).Lr;
        Assert.Equal(LrSchedule.WarmupCosine(55, config.Lr, config.MinLr, 6, 56), before, 15);   // the cosine just before it
    }

    [Fact]
    public void Run_TimeScheduleStoppedAndResumed_KeepsHorizonAndMatchesStepsScheduleExactly()
    {
        string dir = TrainingTestData.TempDir();
        var (config, create) = TimeRun(dir);
        using var cts = new CancellationTokenSource();
        var first = create(null);
        first.OnStep = p => { if (p.Step == 20) cts.Cancel(); };
        var stopped = first.Run(cancel: cts.Token);
        Assert.Equal((20, TrainStopReason.Cancelled), (stopped.Step, stopped.Reason));
        Assert.Equal(57, CheckpointStore.ReadState(first.Store.Latest()!).State.HorizonSteps);

        var second = create(null);
        var log = new List<string>();
        second.OnLog = log.Add;
        var resumed = second.Run(resumeFrom: second.Store.Latest());
        Assert.Contains("time schedule: horizon 57 steps (kept from the checkpoint)", log);
        Assert.Equal((57, TrainStopReason.Completed), (resumed.Step, resumed.Reason));
        Assert.Equal(57, CheckpointStore.ReadState(second.Store.Latest()!).State.HorizonSteps);

        // the same run on the step schedule with that horizon (the warm-up covers the measurement, so every lr is equal)
        var steps = config with { Schedule = "steps", MaxMinutes = 0, MaxSteps = 57, LrDecaySteps = 56, OutDir = TrainingTestData.TempDir() };
        var whole = new Trainer(steps, TrainingTestData.Data(), TrainingTestData.Factory()).Run();
        var joined = stopped.StepLosses.Concat(resumed.StepLosses).OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray();
        Assert.Equal(whole.StepLosses.OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray(), joined);
    }

    /// <summary>
    /// Stopped at step 2, before the horizon was measured (elapsed 0.2 + 2 + 0.2 = 2.4 s): the resumed run times steps
    /// 6–8 (MeasureUntil(6, 2) = 8), estimates the evaluation it has not seen (2 batches × 1 s / 3), so the horizon is
    /// 8 + ⌊(51.6·0.98 − 2/3) / (1 + (2/3)/10)⌋ = 54.
    /// </summary>
    [Fact]
    public void Run_TimeScheduleResumedBeforeMeasurement_MeasuresInResumedRun()
    {
        string dir = TrainingTestData.TempDir();
        var (_, create) = TimeRun(dir);
        using var cts = new CancellationTokenSource();
        var first = create(null);
        first.OnStep = p => { if (p.Step == 2) cts.Cancel(); };
        first.Run(cancel: cts.Token);
        Assert.Null(CheckpointStore.ReadState(first.Store.Latest()!).State.HorizonSteps);

        var second = create(null);
        var resumed = second.Run(resumeFrom: second.Store.Latest());
        Assert.Equal((54, TrainStopReason.Completed), (resumed.Step, resumed.Reason));
        Assert.Equal(54, CheckpointStore.ReadState(second.Store.Latest()!).State.HorizonSteps);
    }

    [Fact]
    public void Run_DeadlinePassesDuringSlowEvaluation_StopsEvaluationEarlyAndWritesCheckpoint()
    {
        string dir = TrainingTestData.TempDir();
        const double budgetSeconds = 3;
        var config = TrainingTestData.Config(dir) with { MaxSteps = 1000, MaxMinutes = budgetSeconds / 60, EvalInterval = 4, EvalIters = 500 };
        bool slow = false;
        ModelBuilder factory = d =>
        {
            var m = (TinyLM)TrainingTestData.Factory()(d);
            m.OnForward = training => { if (!training && slow) Thread.Sleep(20); };   // 500 batches: 10 s, past the 3 s budget
            return m;
        };
        var trainer = new Trainer(config, TrainingTestData.Data(), factory) { OnStep = p => { if (p.Step == 4) slow = true; } };
        var wall = Stopwatch.StartNew();
        var result = trainer.Run();
        wall.Stop();

        Assert.True(wall.Elapsed.TotalSeconds < 2 * budgetSeconds + 2, $"stopped after {wall.Elapsed.TotalSeconds:F1} s with a {budgetSeconds} s budget");
        Assert.Equal((4, TrainStopReason.TimeLimit), (result.Step, result.Reason));
        Assert.Equal(4, CheckpointStore.ReadState(trainer.Store.Latest()!).State.Step);
        var evals = Metrics(dir).Where(r => r.ValLoss is not null).ToList();
        Assert.Equal([0, 4], evals.Select(r => r.Step));                              // no evaluation started past the deadline
        Assert.InRange(evals[1].EvalBatches!.Value, 1, 499);                           // the one running at the deadline stopped early
    }
}

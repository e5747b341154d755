using SharpSeek.Training;

namespace SharpSeek.Tests.Training;

public class TrainerTests
{
    [Fact]
    public void Run_TinyCorpusFixedSeed_LossFalls()
    {
        string dir = TrainingTestData.TempDir();
        var config = TrainingTestData.Config(dir) with { MaxSteps = 60, EvalInterval = 60, Dropout = 0, Lr = 1e-2, MinLr = 1e-3 };
        var trainer = new Trainer(config, TrainingTestData.Data(), TrainingTestData.Factory(0));
        var val = new Dictionary<int, double>();
        trainer.OnEval = (step, v) => val[step] = v.Loss;
        var result = trainer.Run();
        Assert.True(result.StepLosses[60] < 0.5 * result.StepLosses[1], $"loss {result.StepLosses[1]:F3} → {result.StepLosses[60]:F3}");
        Assert.True(val[60] < 0.5 * val[0], $"val {val[0]:F3} → {val[60]:F3}");
        Assert.Equal(val.Values.Min(), result.BestValLoss);
    }

    [Fact]
    public void Run_StoppedAndResumed_GivesSameLossesAsUninterrupted()
    {
        var config = TrainingTestData.Config("");
        var whole = new Trainer(config with { OutDir = TrainingTestData.TempDir() }, TrainingTestData.Data(), TrainingTestData.Factory()).Run();

        string dir = TrainingTestData.TempDir();
        using var cts = new CancellationTokenSource();
        var first = new Trainer(config with { OutDir = dir }, TrainingTestData.Data(), TrainingTestData.Factory()) { OnStep = p => { if (p.Step == 3) cts.Cancel(); } };
        var stopped = first.Run(cancel: cts.Token);
        Assert.Equal((3, TrainStopReason.Cancelled), (stopped.Step, stopped.Reason));

        var second = new Trainer(config with { OutDir = dir }, TrainingTestData.Data(seed: 99), TrainingTestData.Factory());
        var resumed = second.Run(resumeFrom: second.Store.Latest());

        var joined = stopped.StepLosses.Concat(resumed.StepLosses).OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray();
        Assert.Equal(whole.StepLosses.OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray(), joined);
        Assert.Equal(whole.LastValLoss, resumed.LastValLoss);
    }

    [Fact]
    public void Run_LossBecomesNaN_StopsWithClearErrorAndKeepsLastCheckpoint()
    {
        string dir = TrainingTestData.TempDir();
        TinyLM? model = null;
        var trainer = new Trainer(TrainingTestData.Config(dir), TrainingTestData.Data(), d => model = (TinyLM)TrainingTestData.Factory()(d));
        trainer.OnStep = p => { if (p.Step == 5) model!.Poisoned = true; };
        var e = Assert.Throws<TrainingException>(() => trainer.Run());
        Assert.Contains("NaN", e.Message);
        Assert.Contains(CheckpointStore.DirName(4), e.Message);
        var (state, _) = CheckpointStore.ReadState(trainer.Store.Latest()!);
        Assert.Equal(4, state.Step);
    }

    [Fact]
    public void Run_ResumeWithDifferentModelShape_ThrowsConfigException()
    {
        string dir = TrainingTestData.TempDir();
        var config = TrainingTestData.Config(dir) with { MaxSteps = 4 };
        var trainer = new Trainer(config, TrainingTestData.Data(), TrainingTestData.Factory());
        trainer.Run();
        var e = Assert.Throws<ConfigException>(() => new Trainer(config with { NEmbd = 32, MaxSteps = 8 }, TrainingTestData.Data(), TrainingTestData.Factory()).Run(trainer.Store.Latest()));
        Assert.Contains("n_embd", e.Message);
    }

    [Fact]
    public void Run_OutDirAlreadyHasCheckpoint_RefusesToOverwrite()
    {
        string dir = TrainingTestData.TempDir();
        var config = TrainingTestData.Config(dir) with { MaxSteps = 4 };
        new Trainer(config, TrainingTestData.Data(), TrainingTestData.Factory()).Run();
        Assert.Throws<ConfigException>(() => new Trainer(config, TrainingTestData.Data(), TrainingTestData.Factory()).Run());
    }

    [Fact]
    public void Run_CheckpointWriteFails_PreviousCheckpointsIntactAndNoPartialFolder()
    {
        string dir = TrainingTestData.TempDir();
        var trainer = new Trainer(TrainingTestData.Config(dir), TrainingTestData.Data(), TrainingTestData.Factory());
        int saves = 0;
        trainer.Store.AfterFileWritten = path =>
        {
            if (Path.GetFileName(path) == CheckpointStore.StateFile) saves++;
            if (saves == 1 && Path.GetFileName(path) == CheckpointStore.OptimizerFile) throw new IOException("No space left on device");
        };
        var e = Assert.Throws<CheckpointException>(() => trainer.Run());
        Assert.Contains("No space left on device", e.Message);
        Assert.Equal([CheckpointStore.DirName(4)], Directory.GetDirectories(dir).Select(Path.GetFileName));
        var (state, _) = CheckpointStore.ReadState(Path.Combine(dir, CheckpointStore.DirName(4)));
        Assert.Equal(4, state.Step);
    }

    [Fact]
    public void Run_KeepLastOne_KeepsNewestAndBest()
    {
        string dir = TrainingTestData.TempDir();
        var result = new Trainer(TrainingTestData.Config(dir) with { KeepLast = 1, MaxSteps = 12, CheckpointInterval = 2 }, TrainingTestData.Data(), TrainingTestData.Factory()).Run();
        var kept = new CheckpointStore(dir).List().Select(x => x.Step).ToList();
        Assert.Contains(12, kept);
        Assert.True(kept.Count <= 2, string.Join(",", kept));
        Assert.True(File.Exists(Path.Combine(dir, MetricsLog.FileName)) && File.Exists(Path.Combine(dir, LossPlot.FileName)));
        Assert.NotNull(result.BestValLoss);
    }

    [Fact]
    public void ReadState_MissingOptimizerFile_ThrowsCheckpointException()
    {
        string dir = TrainingTestData.TempDir();
        var trainer = new Trainer(TrainingTestData.Config(dir) with { MaxSteps = 4 }, TrainingTestData.Data(), TrainingTestData.Factory());
        trainer.Run();
        string ckpt = trainer.Store.Latest()!;
        File.Delete(Path.Combine(ckpt, CheckpointStore.OptimizerFile));
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.ReadState(ckpt));
        Assert.Contains(CheckpointStore.OptimizerFile, e.Message);
    }

    [Fact]
    public void Run_ResumeFromCorruptOptimizerState_ThrowsCheckpointException()
    {
        string dir = TrainingTestData.TempDir();
        var config = TrainingTestData.Config(dir) with { MaxSteps = 4 };
        var trainer = new Trainer(config, TrainingTestData.Data(), TrainingTestData.Factory());
        trainer.Run();
        string ckpt = trainer.Store.Latest()!;
        File.WriteAllBytes(Path.Combine(ckpt, CheckpointStore.OptimizerFile), [1, 2, 3]);
        Assert.Throws<CheckpointException>(() => new Trainer(config with { MaxSteps = 8 }, TrainingTestData.Data(), TrainingTestData.Factory()).Run(ckpt));
    }
}

using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.Models.DeepSeek;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>A tiny DeepSeek-V3 teacher (MLA, MoE, MTP) pretrained once on the test corpus; its checkpoint is loaded afresh by each test.</summary>
public sealed class DistillationTeacher
{
    public string Checkpoint { get; }

    public DistillationTeacher()
    {
        var c = TrainingDeepSeekTests.Tiny(TrainingTestData.TempDir()) with { MaxSteps = 40, EvalInterval = 40, Lr = 1e-2, MinLr = 1e-3 };
        Checkpoint = new Trainer(c, TrainingTestData.Data(), TrainingModels.For(c, TrainingTestData.Data().VocabSize)).Run().Checkpoint!;
    }

    public CausalLM Load() => ModelLoader.Load(Checkpoint);
}

/// <summary>A GPT-2 student distilled from a frozen DeepSeek teacher through the one trainer loop.</summary>
public class DistillationTrainingTests : IClassFixture<DistillationTeacher>
{
    private readonly DistillationTeacher _teacher;

    public DistillationTrainingTests(DistillationTeacher teacher) { _teacher = teacher; }

    /// <summary>A 1-layer GPT-2 of width 16 (the teacher: 2 layers, width 32, another family), vocabulary 64 like the teacher's.</summary>
    private static TrainConfig Student(string outDir) => TrainingTestData.Config(outDir) with
    {
        Arch = "gpt2", NLayer = 1, NHead = 2, NEmbd = 16, Dropout = 0, MaxSteps = 30, EvalInterval = 15, Lr = 2e-2, MinLr = 2e-3,
    };

    private static DistillationObjective Objective(TrainConfig c, CausalLM teacher, ulong dataSeed = 1) =>
        new(TrainingTestData.Data(dataSeed), c.BatchSize, c.BlockSize, teacher, temperature: 2.0, hardLabelWeight: 0.2);

    private static Dictionary<string, Tensor> Snapshot(CausalLM model) =>
        model.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter.detach().clone());

    [Fact]
    public void Run_GptStudentFromDeepSeekTeacher_KlFallsTeacherUntouchedOnlyStudentTrainedAndSaved()
    {
        string dir = TrainingTestData.TempDir();
        var c = Student(dir);
        var teacher = _teacher.Load();
        var before = Snapshot(teacher);
        CausalLM? student = null;
        var trainer = new Trainer(c, Objective(c, teacher), d => student = TrainingModels.For(c, TrainingTestData.Data().VocabSize)(d));
        var result = trainer.Run();

        double kl1 = result.StepMetrics[1]["kl"], kl30 = result.StepMetrics[30]["kl"];
        Assert.True(kl30 < 0.4 * kl1, $"KL(teacher ‖ student) {kl1:F4} → {kl30:F4}");   // this run: 0.866 → 0.256

        // The teacher: bit-identical, never given a gradient, still in eval mode.
        foreach (var (name, p) in teacher.named_parameters())
        {
            Assert.True(p.equal(before[name]).all().item<bool>(), $"teacher parameter {name} changed");
            Assert.Null(p.grad);
        }
        Assert.False(teacher.training);

        // The optimizer held exactly the student's parameters.
        var studentHandles = student!.parameters().Select(p => p.Handle).ToHashSet();
        Assert.Equal(studentHandles, trainer.TrainedParameters.Select(p => p.Handle).ToHashSet());

        // The checkpoint is the student alone: a GPT-2 folder with the student's tensors and final weights.
        Assert.Equal("gpt2", ModelLoader.ReadModelType(result.Checkpoint!));
        var studentState = student.state_dict();
        using (var file = SafeTensorsFile.Open(Path.Combine(result.Checkpoint!, CheckpointFolder.SingleFile)))
            Assert.All(file.Tensors.Values, t =>                                        // GPT-2's Conv1D weights are stored transposed
            {
                Assert.True(studentState.ContainsKey(t.Name), $"{t.Name} is not a student tensor");
                Assert.Equal(studentState[t.Name].numel(), t.ElementCount);
            });
        var saved = ModelLoader.Load(result.Checkpoint!);
        foreach (var (name, p) in saved.named_parameters()) Assert.True(p.equal(student.get_parameter(name)!).all().item<bool>(), $"saved {name} differs from the student's");
    }

    [Fact]
    public void Run_Distillation_MetricsLogHasKlForStepsAndEvaluations()
    {
        string dir = TrainingTestData.TempDir();
        var c = Student(dir) with { MaxSteps = 4, EvalInterval = 2 };
        new Trainer(c, Objective(c, _teacher.Load()), TrainingModels.For(c, TrainingTestData.Data().VocabSize)).Run();
        var lines = File.ReadLines(Path.Combine(dir, MetricsLog.FileName)).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.All(lines.Where(l => l["loss"] is not null), l => Assert.True(l["metrics"]!["kl"]!.GetValue<double>() > 0));
        var evals = lines.Where(l => l["val_loss"] is not null).ToList();
        Assert.Equal(3, evals.Count);                                                   // steps 0, 2, 4
        Assert.All(evals, l => Assert.Equal(l["val_loss"]!.GetValue<double>(), l["metrics"]!["val_ce"]!.GetValue<double>(), 6));
    }

    [Fact]
    public void Run_DistillationStoppedAndResumed_GivesSameLossesAsUninterrupted()
    {
        var c = Student("") with { MaxSteps = 8, EvalInterval = 4 };
        ModelBuilder Factory() => TrainingModels.For(c, TrainingTestData.Data().VocabSize);
        var whole = new Trainer(c with { OutDir = TrainingTestData.TempDir() }, Objective(c, _teacher.Load()), Factory()).Run();

        string dir = TrainingTestData.TempDir();
        using var cts = new CancellationTokenSource();
        var first = new Trainer(c with { OutDir = dir }, Objective(c, _teacher.Load()), Factory()) { OnStep = p => { if (p.Step == 3) cts.Cancel(); } };
        var stopped = first.Run(cancel: cts.Token);
        Assert.Equal((3, TrainStopReason.Cancelled), (stopped.Step, stopped.Reason));
        var second = new Trainer(c with { OutDir = dir }, Objective(c, _teacher.Load(), dataSeed: 99), Factory());
        var resumed = second.Run(resumeFrom: second.Store.Latest());

        var joined = stopped.StepLosses.Concat(resumed.StepLosses).OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray();
        Assert.Equal(whole.StepLosses.OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray(), joined);
        Assert.Equal(whole.StepMetrics[8]["kl"], resumed.StepMetrics[8]["kl"]);
        Assert.Equal(whole.LastValLoss, resumed.LastValLoss);
    }

    [Fact]
    public void Run_FrozenModelWithRequiresGrad_ThrowsBeforeTraining()
    {
        string dir = TrainingTestData.TempDir();
        var c = Student(dir);
        var teacher = _teacher.Load();
        var objective = Objective(c, teacher);
        teacher.parameters().First().requires_grad = true;
        var e = Assert.Throws<InvalidOperationException>(() => new Trainer(c, objective, TrainingModels.For(c, TrainingTestData.Data().VocabSize)).Run());
        Assert.Contains("requires_grad", e.Message);
        Assert.Empty(new CheckpointStore(dir).List());
    }

    [Fact]
    public void Run_PolicyAsItsOwnTeacher_ThrowsBeforeTraining()
    {
        var c = Student(TrainingTestData.TempDir());
        var model = TrainingModels.For(c, TrainingTestData.Data().VocabSize)(null);
        var objective = Objective(c, model);                                            // freezes it, but it is also the policy
        var e = Assert.Throws<InvalidOperationException>(() => new Trainer(c, objective, _ => model).Run());
        Assert.Contains("is the policy", e.Message);
    }
}

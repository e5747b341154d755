using System.Collections.Concurrent;
using SharpSeek.Distributed;
using SharpSeek.Kernels;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tests.Training;
using SharpSeek.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Distributed;

public class ZeroSlicesTests
{
    [Fact]
    public void Range_TenOverThree_FirstRankTakesTheExtraElement()
    {
        // 10 = 3·3 + 1: rank 0 gets 4, ranks 1 and 2 get 3
        Assert.Equal((0L, 4L), ZeroSlices.Range(10, 0, 3));
        Assert.Equal((4L, 3L), ZeroSlices.Range(10, 1, 3));
        Assert.Equal((7L, 3L), ZeroSlices.Range(10, 2, 3));
    }

    [Fact]
    public void Range_FewerElementsThanRanks_LastRanksAreEmpty()
    {
        Assert.Equal((0L, 1L), ZeroSlices.Range(2, 0, 3));
        Assert.Equal((1L, 1L), ZeroSlices.Range(2, 1, 3));
        Assert.Equal((2L, 0L), ZeroSlices.Range(2, 2, 3));
    }

    [Fact]
    public void Range_RankOutsideTheGroup_Throws() => Assert.Throws<ArgumentOutOfRangeException>(() => ZeroSlices.Range(10, 2, 2));

    [Fact]
    public void Pieces_SliceAcrossTwoTensors_OffsetsInsideEach()
    {
        // tensors of 3, 5, 2 elements at 0, 3, 8; the slice [2, 7) is element 2 of the first and elements 0..3 of the second
        var pieces = ZeroSlices.Pieces([3, 5, 2], 2, 5);
        Assert.Equal([(0, 2L, 1L, 2L), (1, 0L, 4L, 3L)], pieces);
    }

    [Fact]
    public void Pieces_EmptySlice_NoPieces() => Assert.Empty(ZeroSlices.Pieces([3, 5], 4, 0));

    [Fact]
    public void WindowParts_WindowAcrossTwoSlices_CountsAndPlacesInTheWindow()
    {
        // 10 over 3 ranks: [0, 4), [4, 7), [7, 10); the window [3, 7) holds 1 element of rank 0 at 0 and 3 of rank 1 at 1
        var (counts, displacements) = ZeroSlices.WindowParts(10, 3, 3, 4);
        Assert.Equal([1L, 3L, 0L], counts);
        Assert.Equal([0L, 1L, 0L], displacements);
    }
}

/// <summary>ZeRO-1 in one process: N ranks as N threads exchanging through <see cref="ThreadWorld"/> (the MPI runs are in ZeroTrainingTests).</summary>
public class ZeroOptimizerTests
{
    /// <summary>In-process stand-in for MPI: one instance per rank (thread); all-gather and point-to-point through shared slots.</summary>
    private sealed class ThreadWorld(int rank, int size, Barrier barrier, Tensor?[] slots, BlockingCollection<Tensor>[] mail) : IDataParallel
    {
        public int Rank => rank;
        public int Size => size;
        public void CheckSame(string what, string text) => throw new NotSupportedException();
        public void BroadcastFromRoot(IReadOnlyList<Tensor> tensors) => throw new NotSupportedException();
        public int BroadcastFromRoot(int value) => throw new NotSupportedException();
        public void AverageGradients(IReadOnlyList<Parameter> parameters) => throw new NotSupportedException();
        public void Average(double[] values) => throw new NotSupportedException();
        public double GradientReduceSeconds => 0;
        public void Sum(long[] values) => throw new NotSupportedException();

        public void AllGather(Tensor buffer, IReadOnlyList<long> counts, IReadOnlyList<long> displacements)
        {
            slots[rank] = buffer.clone();
            barrier.SignalAndWait();
            for (int r = 0; r < size; r++)
                if (r != rank && counts[r] > 0) buffer.narrow(0, displacements[r], counts[r]).copy_(slots[r]!.narrow(0, displacements[r], counts[r]));
            barrier.SignalAndWait();
        }

        public void Send(Tensor tensor, int destination) => mail[rank].Add(tensor.clone().DetachFromDisposeScope());   // one sender per mailbox
        public void Receive(Tensor tensor, int source) => tensor.copy_(mail[source].Take());

        public static ThreadWorld[] Create(int size)
        {
            var barrier = new Barrier(size);
            var slots = new Tensor?[size];
            var mail = Enumerable.Range(0, size).Select(_ => new BlockingCollection<Tensor>()).ToArray();
            return Enumerable.Range(0, size).Select(r => new ThreadWorld(r, size, barrier, slots, mail)).ToArray();
        }
    }

    private static readonly TrainConfig Config = new() { Lr = 1e-2, Beta1 = 0.9, Beta2 = 0.95, Eps = 1e-8, WeightDecay = 0.1 };

    // decay: (3, 5) and (2, 4) = 15 + 8 = 23 elements; no decay: (5) and (4) = 9
    private static readonly long[][] Shapes = [[3, 5], [2, 4], [5], [4]];

    /// <summary>The same starting weights for <paramref name="copies"/> replicas.</summary>
    private static List<ParamGroups> Replicas(int copies)
    {
        manual_seed(7);
        var start = Shapes.Select(s => randn(s)).ToList();
        return Enumerable.Range(0, copies).Select(_ =>
        {
            var ps = start.Select(t => new Parameter(t.clone())).ToList();
            return new ParamGroups([("a", ps[0]), ("b", ps[1])], [("c", ps[2]), ("d", ps[3])]);
        }).ToList();
    }

    private static void SetGrads(ParamGroups groups, int step)
    {
        manual_seed(100 + step);
        foreach (var p in groups.All) p.grad = randn(p.shape) * (step % 2 == 0 ? 1e-3 : 1.0);
    }

    /// <summary>Same shape and the same bits (no tolerance).</summary>
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static void OnEveryRank(int size, Action<int> body)
    {
        var errors = new ConcurrentBag<Exception>();
        var threads = Enumerable.Range(0, size).Select(r => new Thread(() => { try { body(r); } catch (Exception e) { errors.Add(e); } })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (!errors.IsEmpty) throw new AggregateException(errors);
    }

    [Fact]
    public void StateBytes_TwoRanks_EachHoldsTheMomentsOfItsSliceOnly()
    {
        var groups = Replicas(1)[0];
        var world = ThreadWorld.Create(2);
        using var rank0 = new ZeroOptimizer(groups, Config, world[0]);
        using var rank1 = new ZeroOptimizer(groups, Config, world[1]);
        using var full = groups.CreateAdamW(Config);
        // rank 0: 12 of 23 decay + 5 of 9 no-decay elements; rank 1: 11 + 4; two fp32 moments each
        Assert.Equal(2 * 4 * (12 + 5), rank0.StateBytes);
        Assert.Equal(2 * 4 * (11 + 4), rank1.StateBytes);
        Assert.Equal(2 * 4 * 32, ZeroOptimizer.MomentBytes(full));
        Assert.Equal(ZeroOptimizer.MomentBytes(full), rank0.UnshardedStateBytes);
    }

    [Theory]
    [InlineData(1, 1_000)]
    [InlineData(2, 1_000)]
    [InlineData(3, 5)]        // windows of 5 elements: slices and weights straddle the windows
    public void Step_RanksAsThreads_SameWeightsBitForBitAsFusedAdamW(int size, long window)
    {
        var replicas = Replicas(size + 1);
        var reference = replicas[size];
        using var fused = reference.CreateAdamW(Config);
        var world = ThreadWorld.Create(size);
        var zero = Enumerable.Range(0, size).Select(r => new ZeroOptimizer(replicas[r], Config, world[r]) { WindowElements = window }).ToArray();
        for (int step = 0; step < 3; step++)
        {
            double lr = 1e-2 * (step + 1);
            foreach (var g in fused.ParamGroups) g.LearningRate = lr;
            foreach (var z in zero) foreach (var g in z.ParamGroups) g.LearningRate = lr;
            SetGrads(reference, step);
            for (int r = 0; r < size; r++) SetGrads(replicas[r], step);
            fused.step();
            OnEveryRank(size, r => zero[r].step());
        }
        var expected = reference.All.ToList();
        for (int r = 0; r < size; r++)
        {
            var actual = replicas[r].All.ToList();
            for (int i = 0; i < expected.Count; i++)
                Assert.True(Same(expected[i], actual[i]), $"rank {r} parameter {i}: max |Δ| {(expected[i] - actual[i]).abs().max().item<float>()}");
        }
        foreach (var z in zero) z.Dispose();
    }

    [Fact]
    public void ZeroGrad_OneRankOfTwo_ZeroesEveryGradientNotOnlyItsSlice()
    {
        var groups = Replicas(1)[0];
        using var rank1 = new ZeroOptimizer(groups, Config, ThreadWorld.Create(2)[1]);
        SetGrads(groups, 1);
        rank1.zero_grad();
        foreach (var p in groups.All) Assert.Equal(0f, p.grad!.abs().max().item<float>());
    }

    /// <summary>Two ranks step twice and save shards (gathered in chunks of 5 elements); returns the folder and the unsharded optimizer that did the same steps.</summary>
    private static (TempDir Dir, ParamGroups Reference, AdamW Fused) SavedShardsOfTwoRanks()
    {
        var replicas = Replicas(3);
        var fused = replicas[2].CreateAdamW(Config);
        var world = ThreadWorld.Create(2);
        // chunks of 5 elements: the gathering straddles pieces and sends several messages per moment
        var zero = Enumerable.Range(0, 2).Select(r => new ZeroOptimizer(replicas[r], Config, world[r]) { GatherChunkElements = 5 }).ToArray();
        for (int step = 0; step < 2; step++)
        {
            SetGrads(replicas[2], step);
            for (int r = 0; r < 2; r++) SetGrads(replicas[r], step);
            fused.step();
            OnEveryRank(2, r => zero[r].step());
        }
        var tmp = new TempDir();
        OnEveryRank(2, r => { if (r == 0) zero[0].SaveShards(tmp.Path); else zero[1].SendShardsToRoot(); });
        foreach (var z in zero) z.Dispose();
        return (tmp, replicas[2], fused);
    }

    private static List<AdamW.State> States(AdamW optimizer) => optimizer.state_dict().State.Cast<AdamW.State>().ToList();

    [Fact]
    public void LoadInto_ShardsOfTwoRanks_GivesTheUnshardedMomentsAndSteps()
    {
        var (tmp, reference, fused) = SavedShardsOfTwoRanks();
        using var _ = tmp;
        using var __ = fused;
        Assert.True(File.Exists(tmp[ZeroCheckpoint.ShardFile(0, 2)]) && File.Exists(tmp[ZeroCheckpoint.ShardFile(1, 2)]));
        using var loaded = reference.CreateAdamW(Config);
        ZeroCheckpoint.LoadInto(loaded, tmp.Path);
        var expected = States(fused);
        var actual = States(loaded);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(2, actual[i].step);
            Assert.True(Same(expected[i].exp_avg, actual[i].exp_avg) && Same(expected[i].exp_avg_sq, actual[i].exp_avg_sq), $"parameter {i}");
        }
    }

    [Fact]
    public void LoadShards_TwoShardsIntoThreeRanks_EachRankGetsItsSliceOfTheMoments()
    {
        var (tmp, reference, fused) = SavedShardsOfTwoRanks();
        using var _ = tmp;
        using var __ = fused;
        var expected = States(fused);
        var m = cat(expected.Take(2).Select(s => s.exp_avg.view(-1)).ToList(), 0);             // (23,) the decay group's exp_avg
        var world = ThreadWorld.Create(3);
        for (int r = 0; r < 3; r++)
        {
            using var zero = new ZeroOptimizer(reference, Config, world[r]);
            zero.LoadShards(tmp.Path);
            // decay slices over 3 ranks: [0, 8), [8, 16), [16, 23)
            var (start, length) = ZeroSlices.Range(23, r, 3);
            var (slice, _) = zero.Moments(0);
            Assert.True(Same(m.narrow(0, start, length), slice), $"rank {r}");
        }
    }

    [Fact]
    public void ReadManifest_ShardFileDeleted_ThrowsCheckpointExceptionNamingIt()
    {
        var (tmp, _, fused) = SavedShardsOfTwoRanks();
        using var __ = tmp;
        using var ___ = fused;
        File.Delete(tmp[ZeroCheckpoint.ShardFile(1, 2)]);
        var e = Assert.Throws<CheckpointException>(() => ZeroCheckpoint.ReadManifest(tmp.Path));
        Assert.Contains($"optimizer shard file {ZeroCheckpoint.ShardFile(1, 2)} is missing", e.Message);
    }

    [Fact]
    public void LoadInto_OtherModelSize_ThrowsCheckpointExceptionAndLeavesTheMomentsUnchanged()
    {
        var (tmp, _, fused) = SavedShardsOfTwoRanks();
        using var __ = tmp;
        using var ___ = fused;
        var other = new ParamGroups([("a", new Parameter(zeros(3, 5)))], [("c", new Parameter(zeros(5)))]);
        using var optimizer = other.CreateAdamW(Config);
        var e = Assert.Throws<CheckpointException>(() => ZeroCheckpoint.LoadInto(optimizer, tmp.Path));
        Assert.Contains("the optimizer shards hold 32 elements", e.Message);
        Assert.Contains("this model has 20 trainable", e.Message);
        Assert.All(States(optimizer), s => Assert.Equal(0L, s.step));
    }

    [Fact]
    public void Run_ZeroStage1OneProcess_UnshardedStateAndTheSameLossesAsZeroStage0()
    {
        var config = TrainingTestData.Config("") with { MaxSteps = 3, EvalInterval = 3 };
        var plain = new Trainer(config with { OutDir = TrainingTestData.TempDir() }, TrainingTestData.Data(), TrainingTestData.Factory());
        var plainRun = plain.Run();
        var zero = new Trainer(config with { OutDir = TrainingTestData.TempDir(), ZeroStage = 1 }, TrainingTestData.Data(), TrainingTestData.Factory());
        var log = new List<string>();
        zero.OnLog = log.Add;
        var zeroRun = zero.Run();
        Assert.Equal(plainRun.StepLosses, zeroRun.StepLosses);
        long trainable = zero.TrainedParameters.Sum(p => p.numel());
        Assert.Equal(2 * 4 * trainable, zero.OptimizerStateBytes);                            // exp_avg + exp_avg_sq, fp32, whole
        Assert.Contains(log, l => l.StartsWith("optimizer state:") && l.Contains("(zero_stage 1 with one process: not sharded)"));
        Assert.True(File.Exists(Path.Combine(zeroRun.Checkpoint!, CheckpointStore.OptimizerFile)));
    }
}

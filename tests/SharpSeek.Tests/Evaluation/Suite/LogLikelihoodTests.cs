using SharpSeek.Evaluation.Suite;
using SharpSeek.Tests.Generation;

namespace SharpSeek.Tests.Evaluation.Suite;

public class LogLikelihoodTests
{
    /// <summary>Bigram table: after token 1 the model puts log-probabilities ln 0.5 on token 2 and ln 0.25 on 3 and 0 each.</summary>
    private static BigramCausalLM Model()
    {
        var table = new float[4, 4];
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++) table[a, b] = (float)Math.Log(0.25);
        table[1, 0] = float.NegativeInfinity; table[1, 1] = (float)Math.Log(0.25); table[1, 2] = (float)Math.Log(0.5); table[1, 3] = (float)Math.Log(0.25);
        return new BigramCausalLM(table);
    }

    [Fact]
    public void Continuation_Bigram_SumsHandComputedLogProbabilities()
    {
        using var model = Model();
        // p(2 | 1) = 0.5, then p(3 | 2) = 0.25: ln 0.125
        Assert.Equal(Math.Log(0.125), LogLikelihood.Continuation(model, [0, 1], [2, 3]), 5);
        Assert.Equal(Math.Log(0.25), LogLikelihood.Continuation(model, [1], [3]), 5);
    }
}

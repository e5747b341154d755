using SharpSeek.Models.DeepSeek;

namespace SharpSeek.Checkpoints.Gguf;

public static partial class GgufExporter
{
    /// <summary>llama.cpp's <c>llama_expert_gating_func_type</c> for sigmoid routing.</summary>
    private const uint GatingSigmoid = 2;

    /// <summary>
    /// Why llama.cpp's <c>deepseek2</c> (the commit LLamaSharp 0.30.0 bundles) cannot express <paramref name="c"/>, or null:
    /// MoE layers without shared experts (its loader requires the shared-expert tensors), and query compression in a model
    /// its loader takes for a "lite" variant (26 or 27 layers, or 48 with a 128,256 vocabulary), whose q_lora_rank it ignores.
    /// </summary>
    public static string? DeepSeekRefusal(DeepSeekV3Config c)
    {
        bool moe = Enumerable.Range(0, c.NumHiddenLayers).Any(c.IsMoeLayer);
        if (moe && c.NSharedExperts == 0)
            return "n_shared_experts 0 cannot be expressed: llama.cpp's deepseek2 requires shared-expert tensors in every MoE layer";
        bool lite = c.NumHiddenLayers is 26 or 27 || (c.NumHiddenLayers == 48 && c.VocabSize == 128256);
        if (lite && c.QRank > 0)
            return $"q_lora_rank {c.QRank} with num_hidden_layers {c.NumHiddenLayers} cannot be expressed: llama.cpp's deepseek2 takes this layer count "
                + "for a 'lite' model and ignores q_lora_rank";
        return null;
    }

    /// <summary>
    /// DeepSeek-V3 → llama.cpp <c>deepseek2</c>, in the layout today's convert_hf_to_gguf.py writes: MLA as MQA over the
    /// latent (key_length = kv_lora_rank + rope dims, value_length = kv_lora_rank, *_mla = per-head widths) with kv_b_proj
    /// split into attn_k_b (transposed per head) and attn_v_b; experts stacked into ffn_{gate,up,down}_exps; the
    /// correction bias as exp_probs_b; sigmoid gating, normalised top-k weights × routed_scaling_factor; group-limited
    /// routing as expert_group_count / expert_group_used_count; YaRN as rope.scaling.*. MTP modules are dropped.
    /// </summary>
    private static GgufWriter DeepSeek2(string dir, CheckpointFolder folder, GgufType type, List<string> notes)
    {
        var c = DeepSeekV3Config.Load(Path.Combine(dir, "config.json"));
        if (DeepSeekRefusal(c) is { } why) throw new ConfigException($"{dir}: {why}");
        DeepSeekV3ForCausalLM.Validate(c, folder);
        var vocab = GgufVocab.Read(dir, c.VocabSize);
        if (c.NumNextnPredictLayers > 0)
            notes.Add($"{c.NumNextnPredictLayers} multi-token-prediction module(s) (layers {c.NumHiddenLayers}..{c.NumHiddenLayers + c.NumNextnPredictLayers - 1}) dropped: llama.cpp's deepseek2 does not run them");

        const string a = "deepseek2.";
        int layers = c.NumHiddenLayers;
        bool anyMoe = Enumerable.Range(0, layers).Any(c.IsMoeLayer);
        var w = new GgufWriter();
        AddGeneral(w, "deepseek2", dir, type);
        w.AddUInt32(a + "context_length", (uint)c.MaxPositionEmbeddings);
        w.AddUInt32(a + "embedding_length", (uint)c.HiddenSize);
        w.AddUInt32(a + "feed_forward_length", (uint)c.IntermediateSize);
        w.AddUInt32(a + "block_count", (uint)layers);
        w.AddUInt32(a + "vocab_size", (uint)c.VocabSize);
        w.AddUInt32(a + "attention.head_count", (uint)c.NumAttentionHeads);
        w.AddUInt32(a + "attention.head_count_kv", 1);
        w.AddUInt32(a + "attention.q_lora_rank", (uint)c.QRank);
        w.AddUInt32(a + "attention.kv_lora_rank", (uint)c.KvLoraRank);
        w.AddUInt32(a + "attention.key_length", (uint)(c.KvLoraRank + c.QkRopeHeadDim));
        w.AddUInt32(a + "attention.value_length", (uint)c.KvLoraRank);
        w.AddUInt32(a + "attention.key_length_mla", (uint)c.QkHeadDim);
        w.AddUInt32(a + "attention.value_length_mla", (uint)c.VHeadDim);
        w.AddFloat32(a + "attention.layer_norm_rms_epsilon", (float)c.RmsNormEps);
        w.AddUInt32(a + "rope.dimension_count", (uint)c.QkRopeHeadDim);
        w.AddFloat32(a + "rope.freq_base", (float)c.RopeTheta);
        if (c.RopeScaling is { } y && y.Factor > 1)
        {
            w.AddString(a + "rope.scaling.type", "yarn");
            w.AddFloat32(a + "rope.scaling.factor", (float)y.Factor);
            w.AddUInt32(a + "rope.scaling.original_context_length", (uint)y.OriginalMaxPositionEmbeddings);
            w.AddFloat32(a + "rope.scaling.yarn_log_multiplier", (float)(0.1 * y.MscaleAllDim));
            w.AddFloat32(a + "rope.scaling.yarn_beta_fast", (float)y.BetaFast);
            w.AddFloat32(a + "rope.scaling.yarn_beta_slow", (float)y.BetaSlow);
        }
        w.AddUInt32(a + "leading_dense_block_count", (uint)(anyMoe ? Math.Min(c.FirstKDenseReplace, layers) : layers));
        w.AddUInt32(a + "expert_feed_forward_length", (uint)(anyMoe ? c.MoeIntermediateSize : c.IntermediateSize));
        w.AddUInt32(a + "expert_shared_count", (uint)(anyMoe ? c.NSharedExperts : 0));
        if (anyMoe)
        {
            w.AddUInt32(a + "expert_count", (uint)c.NRoutedExperts);
            w.AddUInt32(a + "expert_used_count", (uint)c.NumExpertsPerTok);
            w.AddFloat32(a + "expert_weights_scale", (float)c.RoutedScalingFactor);
            w.AddBool(a + "expert_weights_norm", c.NormTopkProb);
            w.AddUInt32(a + "expert_gating_func", GatingSigmoid);
            if (c.NGroup > 1 && c.TopkGroup < c.NGroup)   // keeping every group is no limit at all
            {
                w.AddUInt32(a + "expert_group_count", (uint)c.NGroup);
                w.AddUInt32(a + "expert_group_used_count", (uint)c.TopkGroup);
            }
        }
        vocab.AddTo(w);

        long d = c.HiddenSize, h = c.NumAttentionHeads, n = c.QkNopeHeadDim, r = c.QkRopeHeadDim, v = c.VHeadDim, kl = c.KvLoraRank;
        void Plain(string gguf, string hf, long[] shape) => Add(w, type, gguf, shape, () => Values(folder, hf));
        void Mlp(string b, string hf, string suffix, long inner)
        {
            Plain($"{b}ffn_gate{suffix}.weight", hf + "gate_proj.weight", [inner, d]);
            Plain($"{b}ffn_up{suffix}.weight", hf + "up_proj.weight", [inner, d]);
            Plain($"{b}ffn_down{suffix}.weight", hf + "down_proj.weight", [d, inner]);
        }

        Plain("token_embd.weight", "model.embed_tokens.weight", [c.VocabSize, d]);
        for (int i = 0; i < layers; i++)
        {
            string p = $"model.layers.{i}.", b = $"blk.{i}.";
            Plain(b + "attn_norm.weight", p + "input_layernorm.weight", [d]);
            if (c.QRank > 0)
            {
                Plain(b + "attn_q_a.weight", p + "self_attn.q_a_proj.weight", [c.QRank, d]);
                Plain(b + "attn_q_a_norm.weight", p + "self_attn.q_a_layernorm.weight", [c.QRank]);
                Plain(b + "attn_q_b.weight", p + "self_attn.q_b_proj.weight", [h * (n + r), c.QRank]);
            }
            else Plain(b + "attn_q.weight", p + "self_attn.q_proj.weight", [h * (n + r), d]);
            Plain(b + "attn_kv_a_mqa.weight", p + "self_attn.kv_a_proj_with_mqa.weight", [kl + r, d]);
            Plain(b + "attn_kv_a_norm.weight", p + "self_attn.kv_a_layernorm.weight", [kl]);
            string kvb = p + "self_attn.kv_b_proj.weight";                                            // (H·(n+dv), kl)
            Add(w, type, b + "attn_k_b.weight", [h, kl, n], () => Values(folder, kvb, t => t.view(h, n + v, kl).narrow(1, 0, n).transpose(1, 2)));   // (H, kl, n)
            Add(w, type, b + "attn_v_b.weight", [h, v, kl], () => Values(folder, kvb, t => t.view(h, n + v, kl).narrow(1, n, v)));                   // (H, dv, kl)
            Plain(b + "attn_output.weight", p + "self_attn.o_proj.weight", [d, h * v]);
            Plain(b + "ffn_norm.weight", p + "post_attention_layernorm.weight", [d]);
            if (!c.IsMoeLayer(i)) { Mlp(b, p + "mlp.", "", c.IntermediateSize); continue; }

            long e = c.NRoutedExperts, m = c.MoeIntermediateSize;
            Plain(b + "ffn_gate_inp.weight", p + "mlp.gate.weight", [e, d]);
            Plain(b + "exp_probs_b.bias", p + "mlp.gate.e_score_correction_bias", [e]);
            string[] Experts(string proj) => Enumerable.Range(0, (int)e).Select(x => $"{p}mlp.experts.{x}.{proj}.weight").ToArray();
            Add(w, type, b + "ffn_gate_exps.weight", [e, m, d], () => Stacked(folder, Experts("gate_proj")));
            Add(w, type, b + "ffn_up_exps.weight", [e, m, d], () => Stacked(folder, Experts("up_proj")));
            Add(w, type, b + "ffn_down_exps.weight", [e, d, m], () => Stacked(folder, Experts("down_proj")));
            Mlp(b, p + "mlp.shared_experts.", "_shexp", m * c.NSharedExperts);
        }
        Plain("output_norm.weight", "model.norm.weight", [d]);
        Plain("output.weight", "lm_head.weight", [c.VocabSize, d]);
        return w;
    }
}

package dev.jlora.loaders;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.jlora.engine.adapter.Target;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TensorNamesTest {

    @Test
    void namesMapBothWays() {
        String[][] pairs = {
            {"token_embd.weight", "model.embed_tokens.weight"},
            {"output_norm.weight", "model.norm.weight"},
            {"output.weight", "lm_head.weight"},
            {"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
            {"blk.11.ffn_norm.weight", "model.layers.11.post_attention_layernorm.weight"},
            {"blk.3.attn_q.weight", "model.layers.3.self_attn.q_proj.weight"},
            {"blk.3.attn_k.bias", "model.layers.3.self_attn.k_proj.bias"},
            {"blk.3.attn_v.weight", "model.layers.3.self_attn.v_proj.weight"},
            {"blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"},
            {"blk.4.ffn_gate.weight", "model.layers.4.mlp.gate_proj.weight"},
            {"blk.4.ffn_up.weight", "model.layers.4.mlp.up_proj.weight"},
            {"blk.4.ffn_down.weight", "model.layers.4.mlp.down_proj.weight"},
        };
        for (String[] p : pairs) {
            assertEquals(p[1], TensorNames.ggufToHf(p[0]), p[0]);
            assertEquals(p[0], TensorNames.hfToGguf(p[1]), p[1]);
        }
        assertNull(TensorNames.ggufToHf("rope_freqs.weight"));
        assertNull(TensorNames.ggufToHf("blk.0.attn_qkv.weight"));
        assertNull(TensorNames.hfToGguf("model.layers.0.mlp.q_proj.weight"));
        assertNull(TensorNames.hfToGguf("model.rotary_emb.inv_freq"));
        assertEquals("model.layers.2.mlp.down_proj", TensorNames.hfModule(Target.DOWN, 2));
        assertEquals("blk.7.attn_output.weight", TensorNames.gguf(Target.O, 7));
    }

    /** Row orders printed by convert_hf_to_gguf.py's permute (torch reshape/swapaxes) for hs = 8 and hs = 4. */
    @Test
    void permutationMatchesLlamaCppConverter() {
        int[] hs8 = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15}; // permute(arange(16), n_head=2)
        int[] hs4 = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11};                 // permute(arange(12), 6, n_head_kv=3)
        float[] w16 = new float[16];
        float[] w12 = new float[12];
        for (int i = 0; i < 16; i++) {
            w16[i] = i;
        }
        for (int i = 0; i < 12; i++) {
            w12[i] = i;
        }
        assertArrayEquals(toFloats(hs8), TensorNames.permuteRowsToGguf(w16, 16, 1, 8));
        assertArrayEquals(toFloats(hs4), TensorNames.permuteRowsToGguf(w12, 12, 1, 4));
    }

    @Test
    void inverseAndRowsMoveWhole() {
        var rnd = new SplittableRandom(3);
        int rows = 3 * 6;
        int cols = 5;
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rnd.nextGaussian();
        }
        float[] g = TensorNames.permuteRowsToGguf(w, rows, cols, 6);
        assertArrayEquals(w, TensorNames.permuteRowsToHf(g, rows, cols, 6));
        for (int r = 0; r < rows; r++) {
            int src = TensorNames.hfRowOfGgufRow(r, 6);
            assertEquals(r, TensorNames.ggufRowOfHfRow(src, 6));
            for (int c = 0; c < cols; c++) {
                assertEquals(w[src * cols + c], g[r * cols + c]);
            }
        }
    }

    /**
     * Why the permutation exists: rotating q = W·x in the Hugging Face layout (pairs (i, i + hs/2)) gives the
     * same numbers as rotating the permuted rows' output in llama.cpp's layout (pairs (2i, 2i + 1)), up to the same
     * reordering. Also holds for W = B·A with B permuted (a LoRA delta). Reference rotations are written out here
     * from their definitions; tolerance 1e-5: the same float products in a different order of rows only.
     */
    @Test
    void halfSplitRopeOnHfRowsEqualsInterleavedRopeOnGgufRows() {
        var rnd = new SplittableRandom(9);
        int hs = 8;
        int heads = 2;
        int rows = hs * heads;
        int cols = 4;
        int r = 2;
        float[] b = new float[rows * r];
        float[] a = new float[r * cols];
        float[] x = new float[cols];
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < cols; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        int pos = 5;
        float[] qHf = ropeHalfSplit(matvec(b, rows, r, matvec(a, r, cols, x)), hs, pos);
        float[] bGguf = TensorNames.permuteRowsToGguf(b, rows, r, hs);
        float[] qGguf = ropeInterleaved(matvec(bGguf, rows, r, matvec(a, r, cols, x)), hs, pos);
        float[] qGgufAsHf = TensorNames.permuteRowsToHf(qGguf, rows, 1, hs);
        for (int i = 0; i < rows; i++) {
            assertEquals(qHf[i], qGgufAsHf[i], 1e-5, "q[" + i + "]");
        }
    }

    private static float[] matvec(float[] m, int rows, int cols, float[] x) {
        float[] y = new float[rows];
        for (int i = 0; i < rows; i++) {
            double s = 0;
            for (int j = 0; j < cols; j++) {
                s += (double) m[i * cols + j] * x[j];
            }
            y[i] = (float) s;
        }
        return y;
    }

    private static float[] ropeHalfSplit(float[] q, int hs, int pos) {
        float[] out = q.clone();
        for (int h = 0; h < q.length / hs; h++) {
            for (int i = 0; i < hs / 2; i++) {
                double th = pos * Math.pow(10000, -2.0 * i / hs);
                int p0 = h * hs + i;
                int p1 = p0 + hs / 2;
                out[p0] = (float) (q[p0] * Math.cos(th) - q[p1] * Math.sin(th));
                out[p1] = (float) (q[p0] * Math.sin(th) + q[p1] * Math.cos(th));
            }
        }
        return out;
    }

    private static float[] ropeInterleaved(float[] q, int hs, int pos) {
        float[] out = q.clone();
        for (int h = 0; h < q.length / hs; h++) {
            for (int i = 0; i < hs / 2; i++) {
                double th = pos * Math.pow(10000, -2.0 * i / hs);
                int p0 = h * hs + 2 * i;
                int p1 = p0 + 1;
                out[p0] = (float) (q[p0] * Math.cos(th) - q[p1] * Math.sin(th));
                out[p1] = (float) (q[p0] * Math.sin(th) + q[p1] * Math.cos(th));
            }
        }
        return out;
    }

    private static float[] toFloats(int[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = a[i];
        }
        return f;
    }
}

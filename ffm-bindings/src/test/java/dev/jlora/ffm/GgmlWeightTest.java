package dev.jlora.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.backend.Backend;
import dev.jlora.engine.backend.BackendProvider;
import dev.jlora.engine.backend.BackendWeights;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.quant.QuantMatrix;
import dev.jlora.quant.QuantType;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Weights resident in ggml ({@code --backend ggml} with quantized models): the forward product of every format
 * ggml takes, against a float64 product with the dequantized weight, within the error ggml's activation rounding
 * allows (it quantizes x to the format's dot type before the dot, as llama.cpp does); and a whole model whose
 * weights are all resident gives the Java path's logits within a stated tolerance.
 */
@Tag("native")
class GgmlWeightTest {

    static Backend ggml() {
        BackendProvider.Probe p = new GgmlBackend.Provider().probe();
        if (!p.isAvailable()) {
            String why = "ggml unavailable: " + p.reason();
            if (System.getenv("CI") != null) {
                fail(why + "; under CI the llama.cpp libraries are fetched by .ci/run");
            }
            Assumptions.abort(why);
        }
        return p.backend();
    }

    /** Elements that share one activation scale in ggml's dot type for weights of {@code t} (1: no scale). */
    static int activationBlock(QuantType t) {
        return switch (t) {
            case F32, F16, BF16 -> 1;
            case Q4_K, Q5_K, Q6_K -> 256;   // Q8_K
            default -> 32;                  // Q8_0 / Q8_1
        };
    }

    /**
     * |y − y_ref| allowed for one output: Σ_i |w_i|·e_i with e_i the rounding of x_i in the dot type — for 8-bit
     * types half a step d = amax/127 plus the fp16 rounding of d times |q| ≤ 127 (≤ 0.57·d in all), for F16/BF16
     * 2⁻⁸·|x_i| (BF16's half ulp, which covers F16's) — plus 1e-3 of Σ|w_i·x_i| for the fp16 sums of Q8_1 and fp32
     * accumulation, and 1e-6.
     */
    static double bound(float[] w, float[] x, int xOff, int n, QuantType t) {
        int blk = activationBlock(t);
        double err = 1e-6, mag = 0;
        for (int b0 = 0; b0 < n; b0 += Math.max(blk, 1)) {
            int len = Math.min(Math.max(blk, 1), n - b0);
            double amax = 0;
            for (int i = 0; i < len; i++) {
                amax = Math.max(amax, Math.abs(x[xOff + b0 + i]));
            }
            for (int i = 0; i < len; i++) {
                double wi = Math.abs(w[b0 + i]), xi = Math.abs(x[xOff + b0 + i]);
                mag += wi * xi;
                if (t == QuantType.F32) {
                    continue;
                }
                err += wi * (blk == 1 ? xi / 256 : 0.57 * amax / 127);
            }
        }
        return err + 1e-3 * mag;
    }

    @ParameterizedTest
    @EnumSource(value = QuantType.class, names = {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K",
            "Q5_K", "Q6_K"})
    void forwardOfEveryResidentFormatMatchesTheDequantizedProduct(QuantType t) {
        Backend ggml = ggml();
        var rnd = new SplittableRandom(t.ordinal());
        // {16, 512}, {8, 256}: row counts ggml can interleave, so Q4_0 and Q4_K go through CPU_REPACK on AVX2.
        for (int[] shape : new int[][] {{7, 256, 1}, {13, 512, 3}, {1, 768, 6}, {16, 512, 1}, {8, 256, 5}}) {
            int OC = shape[0], IC = shape[1], T = shape[2];
            float[] w = new float[OC * IC], x = new float[T * IC];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) rnd.nextGaussian(0, 0.05);
            }
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextGaussian();
            }
            QuantMatrix q = t.quantize(w, OC, IC);
            QuantMatrix resident = ggml.residentWeight(q).orElseThrow(() -> new AssertionError(t + " not resident"));
            assertInstanceOf(GgmlWeight.class, resident);
            assertEquals(((GgmlBackend) ggml).repacks(t, OC), ((GgmlWeight) resident).repacked(), resident.toString());
            float[] y = new float[T * OC];
            resident.matmul(x, T, y);
            float[] row = new float[IC];
            for (int o = 0; o < OC; o++) {
                q.dequantizeRow(o, row, 0);
                for (int s = 0; s < T; s++) {
                    double ref = 0;
                    for (int i = 0; i < IC; i++) {
                        ref += (double) row[i] * x[s * IC + i];
                    }
                    double tol = bound(row, x, s * IC, IC, t);
                    assertEquals(ref, y[s * OC + o], tol, String.format("%s [%d×%d] T=%d: y[%d, %d]", t, OC, IC, T, s, o));
                }
            }
            // The transposed product stays on the Java kernels of the stored matrix: identical results.
            float[] dy = new float[T * OC], dxWant = new float[T * IC], dxGot = new float[T * IC];
            for (int i = 0; i < dy.length; i++) {
                dy[i] = (float) rnd.nextGaussian();
            }
            q.matmulBackwardInput(dy, T, dxWant);
            resident.matmulBackwardInput(dy, T, dxGot);
            assertEquals(java.util.Arrays.toString(dxWant), java.util.Arrays.toString(dxGot));
        }
    }

    /** llama.cpp repacks Q4_0/Q4_K on any AVX2 CPU; the comparison figures in PERFORMANCE.md rely on it. */
    @Test
    void q4WeightsGoThroughCpuRepackWhereTheCpuHasAvx2() throws java.io.IOException {
        var ggml = (GgmlBackend) ggml();
        java.nio.file.Path cpuinfo = java.nio.file.Path.of("/proc/cpuinfo");
        Assumptions.assumeTrue(java.nio.file.Files.isReadable(cpuinfo), "no /proc/cpuinfo to read the CPU's flags from");
        boolean avx2 = java.nio.file.Files.readString(cpuinfo).contains(" avx2");
        assertEquals(avx2, ggml.repacks(QuantType.Q4_0, 16), ggml.description());
        assertEquals(avx2, ggml.repacks(QuantType.Q4_K, 8), ggml.description());
        assertFalse(ggml.repacks(QuantType.Q4_0, 12), "12 rows cannot be interleaved eight at a time");
        assertFalse(ggml.repacks(QuantType.Q8_0, 16), "Q8_0 has no x86 repacked layout");
        float[] w = new float[16 * 256];
        var plain = (GgmlWeight) ggml.residentWeight(QuantType.Q4_0.quantize(w, 16, 256), false).orElseThrow();
        assertFalse(plain.repacked(), plain.toString());
    }

    @Test
    void formatsGgmlCannotTakeStayOnJava() {
        Backend ggml = ggml();
        float[] w = new float[4 * 256];
        assertTrue(ggml.residentWeight(QuantType.NF4.quantize(w, 4, 256)).isEmpty(), "NF4 is not a ggml format");
        assertTrue(ggml.residentWeight(QuantType.Q8_K.quantize(w, 4, 256)).isEmpty(), "Q8_K is an activation type");
    }

    /**
     * stories260K with every linear weight resident in ggml gives the Java kernels' logits for a prompt and a decode
     * step (T = 1, its own cached graph). With F32 weights ggml's dot is fp32 too: within 1e-3 (summation order).
     * Quantized to Q8_0 at load (ffn_down stays F16, its rows do not fit Q8_0 blocks), ggml rounds the
     * activations to Q8_0 / F16 before each dot, as llama.cpp does: within 0.15 on logits that span about ±15, and
     * the same most likely token.
     */
    @ParameterizedTest
    @EnumSource(value = QuantType.class, names = {"F32", "Q8_0"})
    void wholeModelWithResidentWeightsGivesTheJavaLogits(QuantType quant) throws Exception {
        Backend ggml = ggml();
        LlamaModel java = ModelLoader.load(NativeReference.models().resolve("stories260K.gguf"),
                new ModelLoader.LoadOptions(quant == QuantType.F32 ? null : quant, true));
        LlamaModel onGgml = BackendWeights.onBackend(java, ggml);
        LlamaWeights.Layer l0 = onGgml.weights().layers().get(0);
        for (QuantMatrix m : List.of(l0.wq(), l0.wk(), l0.wv(), l0.wo(), l0.wGate(), l0.wUp(), l0.wDown())) {
            assertInstanceOf(GgmlWeight.class, m, "layer 0 weight " + m);
        }
        assertEquals(5 * 7 + 1, BackendWeights.countOnBackend(onGgml.weights()), "7 weights × 5 layers + output");
        double tol = quant == QuantType.F32 ? 1e-3 : 0.15;
        int[] prompt = {1, 403, 407, 261, 378, 29, 11};
        var session = new InferenceSession(onGgml, AdapterSet.NONE, 16);
        assertLogitsClose(new InferenceSession(java, AdapterSet.NONE, 16).prefill(prompt), session.prefill(prompt),
                tol, quant + " prompt");
        assertLogitsClose(new InferenceSession(java, AdapterSet.NONE, 16).prefill(append(prompt, 300)),
                session.decode(300), tol, quant + " decode step");
    }

    static void assertLogitsClose(float[] want, float[] got, double tol, String what) {
        assertEquals(want.length, got.length, what);
        int argWant = 0, argGot = 0;
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tol, what + ": logit " + i);
            argWant = want[i] > want[argWant] ? i : argWant;
            argGot = got[i] > got[argGot] ? i : argGot;
        }
        assertEquals(argWant, argGot, what + ": most likely token");
    }

    static int[] append(int[] a, int v) {
        int[] out = java.util.Arrays.copyOf(a, a.length + 1);
        out[a.length] = v;
        return out;
    }
}

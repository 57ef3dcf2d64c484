package dev.jlora.engine.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.ref.ByteTokenizer;
import dev.jlora.engine.infer.ref.DenseMatrix;
import dev.jlora.engine.infer.ref.TinyModels;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaConfig.RopeScaling;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.model.LlamaWeights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class GeneratorTest {
    static final LlamaConfig C = TinyModels.config(true, false, false, RopeScaling.NONE);
    static final ByteTokenizer TOK = new ByteTokenizer();
    static final int[] PROMPT = {1, 9, 6, 13, 13, 16};   // BOS "hello"

    static LlamaModel model(LlamaWeights w) {
        return new LlamaModel(C, w, TOK);
    }

    static Generator generator(LlamaWeights w, int ctx) {
        return new Generator(new InferenceSession(model(w), AdapterSet.NONE, ctx), TOK);
    }

    @Test
    void greedyGenerationIsArgmaxOfTokenByTokenForward() {
        LlamaWeights w = TinyModels.weights(C, 31);
        var g = generator(w, 64);
        List<String> pieces = new ArrayList<>();
        GenerationResult r = g.generate(PROMPT, new GenerationConfig(20, SamplerConfig.greedy(), List.of(), false),
                (id, text) -> pieces.add(text));
        // reference: a fresh session, argmax of decode after each token
        var s = new InferenceSession(model(w), AdapterSet.NONE, 64);
        float[] logits = null;
        for (int t : PROMPT) logits = s.decode(t);
        int[] expected = new int[20];
        for (int i = 0; i < 20; i++) {
            expected[i] = Sampler.argmax(logits, C.vocabSize());
            logits = s.decode(expected[i]);
        }
        assertArrayEquals(expected, r.tokens());
        assertEquals(GenerationResult.StopReason.MAX_TOKENS, r.stopReason());
        assertEquals(TOK.decode(expected).replace("\0", ""), r.text());
        assertEquals(r.text(), String.join("", pieces));
        assertEquals(19, r.decodeSteps());
        assertEquals(PROMPT.length + 19, g.session().position());
    }

    @Test
    void stopsAtEndOfGenerationAndAtStopStrings() {
        int V = ONE_HOT.vocabSize();
        int[] table = new int[V];
        // h → i → ' ' → € (3 byte tokens) → '<' → '/' → 's' → '>' → '!' → EOS
        int[] chain = {9, 10, 28, 29, 30, 31, 32, 33, 20, 34, 36, 0};
        for (int i = 0; i + 1 < chain.length; i++) table[chain[i]] = chain[i + 1];

        List<String> pieces = new ArrayList<>();
        var r = oneHotGenerator(table, 64).generate(new int[] {1, 9}, new GenerationConfig(50, SamplerConfig.greedy()),
                (id, text) -> pieces.add(text));
        assertArrayEquals(new int[] {10, 28, 29, 30, 31, 32, 33, 20, 34, 36, 0}, r.tokens());
        assertEquals(GenerationResult.StopReason.END_OF_GENERATION, r.stopReason());
        assertEquals("i €</s>!", r.text());
        assertEquals(List.of("i", " ", "", "", "€", "<", "/", "s", ">", "!"), pieces);

        pieces.clear();
        var s = oneHotGenerator(table, 64).generate(new int[] {1, 9}, new GenerationConfig(50, SamplerConfig.greedy(),
                List.of("</s>"), true), (id, text) -> pieces.add(text));
        assertEquals(GenerationResult.StopReason.STOP_STRING, s.stopReason());
        assertEquals("i €", s.text());
        assertEquals(List.of("i", " ", "", "", "€", "", "", "", ""), pieces);   // "</s" held back, never sent
        assertArrayEquals(new int[] {10, 28, 29, 30, 31, 32, 33, 20, 34}, s.tokens());

        var full = oneHotGenerator(table, 6).generate(new int[] {1, 9}, new GenerationConfig(50, SamplerConfig.greedy()),
                Generator.Listener.NONE);
        assertEquals(GenerationResult.StopReason.CONTEXT_FULL, full.stopReason());
        assertEquals(5, full.tokens().length);   // positions 2..5 filled by decodes, the 5th token not fed back
    }

    @Test
    void seededSamplingIsReproducible() {
        LlamaWeights w = TinyModels.weights(C, 41);
        var cfg = new GenerationConfig(30, new SamplerConfig(1.2f, 10, 0.95f, 0.02f, 1.1f, 16, 1234L), List.of(), false);
        int[] a = generator(w, 64).generate(PROMPT, cfg, Generator.Listener.NONE).tokens();
        int[] b = generator(w, 64).generate(PROMPT, cfg, Generator.Listener.NONE).tokens();
        assertArrayEquals(a, b, "seed 1234");
        assertEquals(30, a.length);
        assertTrue(Arrays.stream(a).distinct().count() > 3, "sampling at temperature 1.2 varied: " + Arrays.toString(a));
    }

    /**
     * A one-layer decoder whose greedy output after token t is table[t]: all linears are zero, so the residual
     * stream is the one-hot embedding e_t, and the output head maps e_t to e_table[t].
     */
    static final LlamaConfig ONE_HOT = new LlamaConfig("llama", 40, 8, 1, 2, 1, 20, 37, 2048, 1e-5f, 10000f,
            RopeScaling.NONE, true, false, false);

    static LlamaWeights oneHot(int[] table) {
        int V = ONE_HOT.vocabSize(), C = ONE_HOT.dim();
        float[] emb = new float[V * C], out = new float[V * C], ones = new float[C];
        Arrays.fill(ones, 1f);
        for (int t = 0; t < V; t++) {
            emb[t * C + t] = 1f;
            out[table[t] * C + t] = 1f;
        }
        var zq = new DenseMatrix(C, C, new float[C * C]);
        var zkv = new DenseMatrix(20, C, new float[20 * C]);
        var zg = new DenseMatrix(8, C, new float[8 * C]);
        var zd = new DenseMatrix(C, 8, new float[8 * C]);
        var layer = new LlamaWeights.Layer(ones, zq, zkv, zkv, zq, null, null, null, ones, zg, zg, zd);
        return new LlamaWeights(new DenseMatrix(V, C, emb), List.of(layer), ones, new DenseMatrix(V, C, out));
    }

    static Generator oneHotGenerator(int[] table, int ctx) {
        return new Generator(new InferenceSession(new LlamaModel(ONE_HOT, oneHot(table), TOK), AdapterSet.NONE, ctx), TOK);
    }
}

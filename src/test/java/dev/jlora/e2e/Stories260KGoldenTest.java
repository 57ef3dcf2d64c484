package dev.jlora.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.GenerationConfig;
import dev.jlora.engine.infer.GenerationResult;
import dev.jlora.engine.infer.Generator;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.SamplerConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** stories260K end to end: tokenizer → forward → greedy sampling → detokenizer against the README's golden output. */
class Stories260KGoldenTest {
    static LlamaModel model;

    @BeforeAll
    static void load() throws Exception {
        model = ModelLoader.load(Golden.stories260K());
    }

    @Test
    void lastPromptLogitsMatchLlamaCpp() {
        assertArrayEquals(Golden.PROMPT_IDS, model.tokenizer().encode(Golden.PROMPT, true, false));
        float[] logits = new InferenceSession(model, AdapterSet.NONE, 16).prefill(Golden.PROMPT_IDS);
        // README values (llama.cpp, F32 KV cache, flash attention off) are given to 4-5 decimals: 1e-4
        assertArrayEquals(Golden.TOP5_IDS, Golden.topK(logits, 0, logits.length, 5));
        for (int i = 0; i < 5; i++) {
            assertEquals(Golden.TOP5_LOGITS[i], logits[Golden.TOP5_IDS[i]], 1e-4, "top-" + (i + 1));
        }
        for (int i = 0; i < 8; i++) {
            assertEquals(Golden.FIRST8_LOGITS[i], logits[i], 1e-4, "logit " + i);
        }
    }

    @Test
    void greedyReproducesTheSixtyGoldenTokensAndText() {
        var gen = new Generator(new InferenceSession(model, AdapterSet.NONE, 128), model.tokenizer());
        List<String> streamed = new ArrayList<>();
        GenerationResult r = gen.generate(Golden.PROMPT_IDS,
                new GenerationConfig(60, SamplerConfig.greedy(), List.of(), false), (id, text) -> streamed.add(text));
        assertArrayEquals(Golden.GREEDY_60, r.tokens());
        int[] all = IntStream.concat(IntStream.of(Golden.PROMPT_IDS), IntStream.of(r.tokens())).toArray();
        String text = model.tokenizer().decode(all);
        assertEquals(Golden.TEXT, text.startsWith(" ") ? text.substring(1) : text);
        // the streamed pieces are the generated part of the same text
        assertEquals(Golden.TEXT.substring(Golden.PROMPT.length()), String.join("", streamed));
        assertEquals(r.text(), String.join("", streamed));
    }
}

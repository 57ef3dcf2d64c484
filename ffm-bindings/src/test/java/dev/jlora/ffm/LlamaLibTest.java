package dev.jlora.ffm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The bindings against llama.cpp's own results on stories260K, as recorded in shared/models/README.md. */
@Tag("native")
class LlamaLibTest {
    static final int[] PROMPT = {1, 403, 407, 261, 378};

    @Test
    void tokenizesAndDecodesStories260KAsTheReadmeRecords() throws Exception {
        LlamaLib lib = NativeReference.llamaOrSkip();
        try (var model = lib.loadModel(NativeReference.models().resolve("stories260K.gguf"));
             var ctx = model.newContext(64, 1)) {
            assertEquals(512, model.vocabSize());
            assertArrayEquals(PROMPT, model.tokenize("Once upon a time", true, false));
            float[] last = ctx.decode(PROMPT, 0, false);
            // README: F32 KV, flash attention off; values given to 4-5 decimals
            int[] top = topK(last, 5);
            assertArrayEquals(new int[] {432, 383, 322, 353, 323}, top);
            float[] topValues = {17.7994f, 14.2813f, 9.7097f, 9.5873f, 9.1342f};
            for (int i = 0; i < 5; i++) {
                assertEquals(topValues[i], last[top[i]], 1e-4, "top-" + (i + 1) + " logit");
            }
            float[] first8 = {-10.13658f, -5.32946f, -10.13808f, -10.13686f, -10.13721f, -10.13833f, -10.13727f, -10.13764f};
            for (int i = 0; i < 8; i++) {
                assertEquals(first8[i], last[i], 1e-4, "logit " + i);
            }
            // all-positions decode of the same prompt gives the same last row; token-by-token decode too
            ctx.clear();
            float[] all = ctx.decode(PROMPT, 0, true);
            float[] lastRow = Arrays.copyOfRange(all, 4 * 512, 5 * 512);
            ctx.clear();
            float[] step = null;
            for (int i = 0; i < PROMPT.length; i++) {
                step = ctx.decode(new int[] {PROMPT[i]}, i, false);
            }
            for (int i = 0; i < 512; i++) {
                assertEquals(last[i], lastRow[i], 1e-4, "all-logits row 4, logit " + i);
                assertEquals(last[i], step[i], 1e-4, "token-by-token, logit " + i);
            }
        }
    }

    static int[] topK(float[] a, int k) {
        return java.util.stream.IntStream.range(0, a.length).boxed()
                .sorted((x, y) -> Float.compare(a[y], a[x])).limit(k).mapToInt(Integer::intValue).toArray();
    }
}

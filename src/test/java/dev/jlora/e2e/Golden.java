package dev.jlora.e2e;

import java.nio.file.Path;

/** The stories260K golden output of shared/models/README.md (verified there with llama.cpp v0.5.0, F32 KV cache). */
final class Golden {
    private Golden() {}

    static final String PROMPT = "Once upon a time";
    static final int[] PROMPT_IDS = {1, 403, 407, 261, 378};
    static final int[] GREEDY_60 = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
            410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268,
            388, 426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415, 426, 13, 438, 310};
    static final String TEXT = "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
            + "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily";
    static final int[] TOP5_IDS = {432, 383, 322, 353, 323};
    static final float[] TOP5_LOGITS = {17.7994f, 14.2813f, 9.7097f, 9.5873f, 9.1342f};
    static final float[] FIRST8_LOGITS = {-10.13658f, -5.32946f, -10.13808f, -10.13686f, -10.13721f, -10.13833f,
            -10.13727f, -10.13764f};

    static Path models() {
        String p = System.getProperty("jlora.models");
        if (p == null) {
            throw new IllegalStateException("system property jlora.models is not set (the build sets it)");
        }
        return Path.of(p);
    }

    static Path stories260K() {
        return models().resolve("stories260K.gguf");
    }

    /** Ids of the k largest values, largest first. */
    static int[] topK(float[] a, int off, int n, int k) {
        return java.util.stream.IntStream.range(0, n).boxed()
                .sorted((x, y) -> Float.compare(a[off + y], a[off + x])).limit(k).mapToInt(Integer::intValue).toArray();
    }
}

package dev.jlora.engine.infer;

/**
 * How to pick the next token from logits. Neutral values switch a stage off: temperature ≤ 0 (greedy argmax),
 * topK 0, topP 1, minP 0, repeatPenalty 1.
 *
 * @param temperature   logits are divided by it before the final draw; ≤ 0 means greedy
 * @param topK          keep the k most likely tokens (0 = all)
 * @param topP          nucleus sampling (Holtzman et al. 2019): keep the smallest prefix of the sorted tokens
 *                      whose probability reaches topP
 * @param minP          keep tokens whose probability is at least minP × the top probability
 * @param repeatPenalty CTRL's repetition penalty (Keskar et al. 2019 §4.1) on the last {@code repeatLastN} tokens
 * @param repeatLastN   how many recent tokens the penalty looks at
 * @param seed          seed of the draw; the same seed, config and logits give the same tokens
 */
public record SamplerConfig(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
                            long seed) {
    public SamplerConfig {
        if (!Float.isFinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be ≥ 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1] (1 = off), got " + topP);
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw new IllegalArgumentException("min-p must be in [0, 1] (0 = off), got " + minP);
        }
        if (!(repeatPenalty > 0) || !Float.isFinite(repeatPenalty)) {
            throw new IllegalArgumentException("repeat penalty must be positive (1 = off), got " + repeatPenalty);
        }
        if (repeatLastN < 0) {
            throw new IllegalArgumentException("repeat-last-n must be ≥ 0, got " + repeatLastN);
        }
    }

    /** Argmax at every step. */
    public static SamplerConfig greedy() {
        return new SamplerConfig(0f, 0, 1f, 0f, 1f, 64, 0L);
    }

    /** llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no repetition penalty. */
    public static SamplerConfig defaults(long seed) {
        return new SamplerConfig(0.8f, 40, 0.95f, 0.05f, 1f, 64, seed);
    }

    public boolean isGreedy() {
        return temperature <= 0f;
    }
}

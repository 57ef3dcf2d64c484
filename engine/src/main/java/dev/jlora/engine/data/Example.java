package dev.jlora.engine.data;

/**
 * One tokenised training example. {@code loss[i]} says whether token i is a prediction target (its loss counts);
 * token 0 never is, since nothing precedes it.
 *
 * @param source where it came from, for messages ("data.jsonl:12")
 */
public record Example(int[] tokens, boolean[] loss, String source) {

    public Example {
        if (tokens.length != loss.length) {
            throw new IllegalArgumentException(source + ": " + tokens.length + " tokens but " + loss.length + " loss flags");
        }
    }

    /** Number of tokens whose loss counts. */
    public int targetCount() {
        int n = 0;
        for (int i = 1; i < loss.length; i++) {
            if (loss[i]) {
                n++;
            }
        }
        return n;
    }
}

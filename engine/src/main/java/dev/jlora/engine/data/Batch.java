package dev.jlora.engine.data;

/**
 * B rows of T tokens for the training graph: inputs[b·T + t] predicts targets[b·T + t], which is −100 (ignored)
 * where the loss does not count.
 *
 * @param targetTokens number of targets ≥ 0
 */
public record Batch(int[] inputs, int[] targets, int B, int T, int targetTokens) {
    public static final int IGNORE = -100;

    /** Builds a batch from packed rows; missing rows (a short last eval batch) are padding with no targets. */
    static Batch of(java.util.List<SequencePacker.Row> rows, int B, int T, int padToken) {
        int[] in = new int[B * T], tg = new int[B * T];
        java.util.Arrays.fill(in, padToken);
        java.util.Arrays.fill(tg, IGNORE);
        int n = 0;
        for (int b = 0; b < rows.size(); b++) {
            var r = rows.get(b);
            for (int t = 0; t < T; t++) {
                in[b * T + t] = r.tokens()[t];
                if (r.loss()[t + 1]) {
                    tg[b * T + t] = r.tokens()[t + 1];
                    n++;
                }
            }
        }
        return new Batch(in, tg, B, T, n);
    }
}

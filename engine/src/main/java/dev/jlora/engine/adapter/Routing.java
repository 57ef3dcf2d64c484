package dev.jlora.engine.adapter;

/**
 * One routing decision over T tokens and E experts: the router probabilities, the chosen experts, their mixing
 * weights, and the tokens grouped by expert (so that each expert runs one matmul over its tokens).
 *
 * @param probs    [T × E] softmax of the router logits
 * @param chosen   [T × E] whether token t is sent to expert e
 * @param weights  [T × E] mixing weights, zero where not chosen
 * @param tokensOf for each expert, the tokens sent to it in increasing order
 */
record Routing(int T, int E, float[] probs, boolean[] chosen, float[] weights, int[][] tokensOf) {

    /** Groups the chosen (token, expert) pairs by expert. */
    static int[][] group(boolean[] chosen, int T, int E) {
        int[] count = new int[E];
        for (int t = 0; t < T; t++) {
            for (int e = 0; e < E; e++) {
                if (chosen[t * E + e]) {
                    count[e]++;
                }
            }
        }
        int[][] out = new int[E][];
        for (int e = 0; e < E; e++) {
            out[e] = new int[count[e]];
            count[e] = 0;
        }
        for (int t = 0; t < T; t++) {
            for (int e = 0; e < E; e++) {
                if (chosen[t * E + e]) {
                    out[e][count[e]++] = t;
                }
            }
        }
        return out;
    }

    /** Mean Shannon entropy (nats) of the router distributions over the T tokens. */
    double meanEntropy() {
        double sum = 0;
        for (int i = 0; i < T * E; i++) {
            float p = probs[i];
            if (p > 0) {
                sum -= p * Math.log(p);
            }
        }
        return sum / T;
    }

    /** Mean number of experts a token is sent to. */
    double expertsPerToken() {
        int n = 0;
        for (boolean c : chosen) {
            if (c) {
                n++;
            }
        }
        return (double) n / T;
    }

    /** Rows {@code rows} of m as a new [rows × width] block. */
    static float[] gatherRows(float[] m, int[] rows, int width) {
        float[] out = new float[rows.length * width];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(m, rows[i] * width, out, i * width, width);
        }
        return out;
    }

    /** As {@link #gatherRows}, but m itself (not a copy) when the rows are all T of them. */
    static float[] gatherAll(float[] m, int[] rows, int width, int T) {
        return rows.length == T ? m : gatherRows(m, rows, width);   // rows are increasing and distinct
    }

    /** dst[rows[i]] += block[i] for each row of block [rows × width]. */
    static void scatterAdd(float[] block, int[] rows, int width, float[] dst) {
        for (int i = 0; i < rows.length; i++) {
            int o = rows[i] * width;
            for (int c = 0; c < width; c++) {
                dst[o + c] += block[i * width + c];
            }
        }
    }
}

package dev.jlora.engine.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Packs examples into rows of T + 1 tokens (T inputs, each predicting the next). Examples are laid end to end in the
 * given order and a row is closed when the next example does not fit; the rest of the row is padding whose loss
 * never counts. An example longer than T + 1 tokens is cut into pieces of T + 1 that overlap by one token, so every
 * target of it is still predicted exactly once.
 *
 * <p>As in most packed fine-tuning (TRL's {@code packing=True} without position resets), attention is causal over
 * the whole row: a packed example can attend to the ones before it in its row. The loss mask keeps their tokens
 * from being targets; positions restart at 0 only at the start of a row.
 */
public final class SequencePacker {
    private SequencePacker() {}

    /** One packed row: tokens [T + 1] and whether each token is a target. */
    public record Row(int[] tokens, boolean[] loss) {}

    public static List<Row> pack(List<Example> examples, int T, int padToken) {
        if (T < 1) {
            throw new IllegalArgumentException("sequence length must be at least 1, got " + T);
        }
        int len = T + 1;
        var rows = new ArrayList<Row>();
        int[] tok = null;
        boolean[] loss = null;
        int used = 0;
        for (Example e : examples) {
            for (int start = 0; start == 0 || start + 1 < e.tokens().length; start += T) {
                int n = Math.min(len, e.tokens().length - start);
                if (tok == null || used + n > len) {
                    if (tok != null) {
                        rows.add(new Row(tok, loss));
                    }
                    tok = new int[len];
                    Arrays.fill(tok, padToken);
                    loss = new boolean[len];
                    used = 0;
                }
                System.arraycopy(e.tokens(), start, tok, used, n);
                System.arraycopy(e.loss(), start, loss, used, n);
                loss[used] = false; // the first token of a piece is never predicted within the row
                used += n;
                if (start + len >= e.tokens().length) {
                    break;
                }
            }
        }
        if (tok != null) {
            rows.add(new Row(tok, loss));
        }
        return rows;
    }
}

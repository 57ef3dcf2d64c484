package dev.jlora.engine.data;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Draws training batches of B rows: each epoch visits every row once, in an order shuffled with a stream derived
 * from (seed, epoch), so the sequence of batches depends only on the seed and the position, which
 * {@link #position()} / {@link #seek} save and restore for exact resumption. A batch never spans two epochs
 * (a short tail is filled from the next epoch's order).
 */
public final class BatchSampler {
    /** Where the next batch starts: the epoch and the index into that epoch's order. */
    public record Position(long epoch, int index) {}

    private final List<SequencePacker.Row> rows;
    private final int B, T, pad;
    private final long seed;
    private long epoch;
    private int index;
    private int[] order;

    public BatchSampler(Dataset data, int B, long seed) {
        if (B <= 0) {
            throw new IllegalArgumentException("batch size must be positive, got " + B);
        }
        this.rows = data.train();
        this.B = B;
        this.T = data.T();
        this.pad = data.padToken();
        this.seed = seed;
        this.order = order(0);
    }

    public Position position() {
        return new Position(epoch, index);
    }

    public void seek(Position p) {
        if (p.epoch() < 0 || p.index() < 0 || p.index() > rows.size()) {
            throw new IllegalArgumentException("data position " + p + " is outside the " + rows.size() + " rows");
        }
        epoch = p.epoch();
        index = p.index();
        order = order(epoch);
    }

    public Batch next() {
        var picked = new ArrayList<SequencePacker.Row>(B);
        while (picked.size() < B) {
            if (index >= rows.size()) {
                epoch++;
                index = 0;
                order = order(epoch);
            }
            picked.add(rows.get(order[index++]));
        }
        return Batch.of(picked, B, T, pad);
    }

    /** Fisher–Yates permutation of the rows for {@code e}. */
    private int[] order(long e) {
        int[] o = new int[rows.size()];
        for (int i = 0; i < o.length; i++) {
            o[i] = i;
        }
        var rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + e);
        for (int i = o.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = o[i];
            o[i] = o[j];
            o[j] = t;
        }
        return o;
    }
}

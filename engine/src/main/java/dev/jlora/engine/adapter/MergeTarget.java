package dev.jlora.engine.adapter;

/** The argument check every {@link TrainableAdapter#mergeInto} starts with. */
final class MergeTarget {
    private MergeTarget() {}

    /** Fails unless {@code w} holds a dense row-major [OC × IC] weight. */
    static void check(float[] w, int OC, int IC) {
        if (w.length != (long) OC * IC) {
            throw new IllegalArgumentException("merge target has " + w.length + " elements, expected OC×IC = " + OC
                    + "×" + IC);
        }
    }
}

package dev.jlora.engine.train;

import java.nio.file.Path;

/** Progress callbacks of a {@link Trainer}; all methods default to doing nothing. Called on the training thread. */
public interface TrainListener {

    /**
     * After each optimizer step.
     *
     * @param step            steps done (1-based)
     * @param loss            mean training loss of the step's micro-batches
     * @param lr              learning rate used
     * @param gradNorm        global gradient norm before clipping
     * @param tokensPerSecond input tokens processed per second during the step
     * @param etaSeconds      estimated time to the last step
     * @param skipped         true when the step was skipped for a non-finite loss or gradient
     */
    record Step(int step, int totalSteps, double loss, float lr, double gradNorm, double tokensPerSecond,
                double etaSeconds, boolean skipped) {}

    default void onStep(Step s) {}

    /** After an evaluation on the held-out rows; perplexity = exp(loss). */
    default void onEval(int step, double loss, double perplexity) {}

    default void onCheckpoint(int step, Path file) {}
}

package dev.jlora.api;

/**
 * One optimizer step of a {@link FineTune} run, given to {@link FineTune#onStep}.
 *
 * @param step            steps done (1-based)
 * @param totalSteps      steps of the run
 * @param loss            mean training loss of the step (nats per target token)
 * @param learningRate    learning rate used for the step
 * @param gradNorm        global gradient norm before clipping
 * @param tokensPerSecond input tokens processed per second during the step
 * @param etaSeconds      estimated time to the last step
 * @param skipped         true when the step was skipped because its loss or gradient was not finite
 */
public record TrainingProgress(int step, int totalSteps, double loss, double learningRate, double gradNorm,
                               double tokensPerSecond, double etaSeconds, boolean skipped) {}

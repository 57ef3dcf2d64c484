package dev.jlora.engine.train;

import dev.jlora.engine.optim.LrSchedule;

/**
 * How to train: every knob of {@link Trainer}. Build with {@link #builder()}; unspecified values are the defaults
 * shown there.
 *
 * @param steps                  optimizer steps
 * @param batchSize              B: packed rows per micro-batch
 * @param seqLen                 T: tokens per row
 * @param gradAccum              micro-batches per optimizer step; each micro-batch's mean loss is scaled by 1/gradAccum
 * @param optimizer              "adamw" or "sgd"
 * @param lr                     peak learning rate
 * @param schedule               shape of the learning rate over the steps
 * @param warmupSteps            linear warmup steps
 * @param minLr                  final learning rate of linear/cosine decay
 * @param weightDecay            AdamW's decoupled decay, or SGD's L2 coefficient
 * @param beta1                  AdamW β₁
 * @param beta2                  AdamW β₂
 * @param eps                    AdamW ε
 * @param momentum               SGD momentum
 * @param maxGradNorm            global-norm clipping threshold; ≤ 0 disables
 * @param evalEvery              evaluate on the held-out rows every N steps (and at the end); 0 disables
 * @param maxEvalBatches         at most this many held-out batches per evaluation
 * @param checkpointEvery        checkpoint every N steps (and at the end); 0 only at the end
 * @param keepCheckpoints        how many of the newest checkpoints to keep
 * @param seed                   seeds data order and dropout
 * @param activationCheckpointing recompute block activations in backward instead of keeping them
 * @param bitReproducible        run the graph on the scalar kernels, so that losses are bit-identical across runs,
 *                               resumes and JIT warm-up; otherwise the Vector API kernels are used, whose lane
 *                               reductions and exp may change the last bits (≈1e-7 relative) from run to run
 * @param maxBadSteps            stop (checkpoint, then {@link Trainer.DivergedException}) after this many consecutive
 *                               steps skipped for a non-finite loss or gradient; 0 never stops
 * @param s2AttnGroup            LongLoRA's shifted sparse attention in training: group size G (a divisor of seqLen),
 *                               0 for full attention ({@link ShiftedSparseAttention}); evaluation stays full
 */
public record TrainConfig(int steps, int batchSize, int seqLen, int gradAccum, String optimizer, float lr,
                          LrSchedule.Kind schedule, int warmupSteps, float minLr, float weightDecay, float beta1,
                          float beta2, float eps, float momentum, float maxGradNorm, int evalEvery, int maxEvalBatches,
                          int checkpointEvery, int keepCheckpoints, long seed, boolean activationCheckpointing,
                          boolean bitReproducible, int maxBadSteps, int s2AttnGroup) {

    public TrainConfig {
        if (steps < 0 || batchSize <= 0 || seqLen <= 0 || gradAccum <= 0) {
            throw new IllegalArgumentException("need steps ≥ 0 and positive batch size, sequence length and gradient"
                    + " accumulation, got " + steps + ", " + batchSize + ", " + seqLen + ", " + gradAccum);
        }
        if (!optimizer.equals("adamw") && !optimizer.equals("sgd")) {
            throw new IllegalArgumentException("unknown optimizer '" + optimizer + "': expected adamw or sgd");
        }
        if (evalEvery < 0 || checkpointEvery < 0 || keepCheckpoints < 1 || maxEvalBatches < 1 || maxBadSteps < 0) {
            throw new IllegalArgumentException("eval/checkpoint intervals and max bad steps must be ≥ 0 and keep/eval "
                    + "batch counts ≥ 1");
        }
        new LrSchedule(schedule, lr, warmupSteps, steps, minLr); // validates the rates
        if (s2AttnGroup != 0) {
            ShiftedSparseAttention.of(s2AttnGroup).check(seqLen, 2);   // the head count is checked by the graph
        }
    }

    public LrSchedule lrSchedule() {
        return new LrSchedule(schedule, lr, warmupSteps, steps, minLr);
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        var b = new Builder();
        b.steps = steps;
        b.batchSize = batchSize;
        b.seqLen = seqLen;
        b.gradAccum = gradAccum;
        b.optimizer = optimizer;
        b.lr = lr;
        b.schedule = schedule;
        b.warmupSteps = warmupSteps;
        b.minLr = minLr;
        b.weightDecay = weightDecay;
        b.beta1 = beta1;
        b.beta2 = beta2;
        b.eps = eps;
        b.momentum = momentum;
        b.maxGradNorm = maxGradNorm;
        b.evalEvery = evalEvery;
        b.maxEvalBatches = maxEvalBatches;
        b.checkpointEvery = checkpointEvery;
        b.keepCheckpoints = keepCheckpoints;
        b.seed = seed;
        b.activationCheckpointing = activationCheckpointing;
        b.bitReproducible = bitReproducible;
        b.maxBadSteps = maxBadSteps;
        b.s2AttnGroup = s2AttnGroup;
        return b;
    }

    /** Defaults follow common LoRA fine-tuning practice (PEFT/TRL examples): AdamW, lr 2e-4, cosine, clip 1.0. */
    public static final class Builder {
        private int steps = 100, batchSize = 4, seqLen = 256, gradAccum = 1;
        private String optimizer = "adamw";
        private float lr = 2e-4f;
        private LrSchedule.Kind schedule = LrSchedule.Kind.COSINE;
        private int warmupSteps = 0;
        private float minLr = 0f, weightDecay = 0f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, momentum = 0.9f;
        private float maxGradNorm = 1f;
        private int evalEvery = 0, maxEvalBatches = 16, checkpointEvery = 0, keepCheckpoints = 3;
        private long seed = 42;
        private boolean activationCheckpointing = false;
        private boolean bitReproducible = false;
        private int maxBadSteps = 10;
        private int s2AttnGroup = 0;

        public Builder steps(int v) { steps = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder seqLen(int v) { seqLen = v; return this; }
        public Builder gradAccum(int v) { gradAccum = v; return this; }
        public Builder optimizer(String v) { optimizer = v; return this; }
        public Builder lr(float v) { lr = v; return this; }
        public Builder schedule(LrSchedule.Kind v) { schedule = v; return this; }
        public Builder warmupSteps(int v) { warmupSteps = v; return this; }
        public Builder minLr(float v) { minLr = v; return this; }
        public Builder weightDecay(float v) { weightDecay = v; return this; }
        public Builder betas(float b1, float b2) { beta1 = b1; beta2 = b2; return this; }
        public Builder eps(float v) { eps = v; return this; }
        public Builder momentum(float v) { momentum = v; return this; }
        public Builder maxGradNorm(float v) { maxGradNorm = v; return this; }
        public Builder evalEvery(int v) { evalEvery = v; return this; }
        public Builder maxEvalBatches(int v) { maxEvalBatches = v; return this; }
        public Builder checkpointEvery(int v) { checkpointEvery = v; return this; }
        public Builder keepCheckpoints(int v) { keepCheckpoints = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder activationCheckpointing(boolean v) { activationCheckpointing = v; return this; }
        public Builder bitReproducible(boolean v) { bitReproducible = v; return this; }
        public Builder maxBadSteps(int v) { maxBadSteps = v; return this; }
        public Builder s2AttnGroup(int v) { s2AttnGroup = v; return this; }

        public TrainConfig build() {
            return new TrainConfig(steps, batchSize, seqLen, gradAccum, optimizer, lr, schedule, warmupSteps, minLr,
                    weightDecay, beta1, beta2, eps, momentum, maxGradNorm, evalEvery, maxEvalBatches, checkpointEvery,
                    keepCheckpoints, seed, activationCheckpointing, bitReproducible, maxBadSteps, s2AttnGroup);
        }
    }
}

package dev.jlora.cli;

import dev.jlora.engine.train.TrainListener;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;

/** Prints training progress: one line every {@code every} steps (and the last), evaluations and checkpoints. */
final class TrainProgress implements TrainListener {
    private final PrintStream out;
    private final int every;

    TrainProgress(PrintStream out, int every) {
        this.out = out;
        this.every = Math.max(1, every);
    }

    @Override
    public void onStep(Step s) {
        if (s.step() % every == 0 || s.step() == s.totalSteps() || s.step() == 1 || s.skipped()) {
            out.printf(Locale.ROOT, "step %5d/%d  loss %.4f  lr %.2e  grad-norm %.3f  %,.0f tok/s  ETA %s%s%n",
                    s.step(), s.totalSteps(), s.loss(), s.lr(), s.gradNorm(), s.tokensPerSecond(),
                    duration(s.etaSeconds()), s.skipped() ? "  (skipped: non-finite loss or gradient)" : "");
        }
    }

    @Override
    public void onEval(int step, double loss, double perplexity) {
        out.printf(Locale.ROOT, "eval  %5d     loss %.4f  perplexity %.2f%n", step, loss, perplexity);
    }

    @Override
    public void onCheckpoint(int step, Path file) {
        out.printf("checkpoint %s%n", file);
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format("%d:%02d", s / 60, s % 60);
    }
}

package dev.jlora.engine.optim;

import java.util.Locale;

/**
 * Learning rate per optimizer step (0-based). Warmup rises linearly to {@code baseLr}: step s &lt; warmup gets
 * baseLr·(s+1)/warmup (nanoGPT's convention, so the first step already learns). After warmup, {@code LINEAR} falls
 * linearly and {@code COSINE} follows half a cosine (Loshchilov &amp; Hutter 2017, SGDR, without restarts) from
 * baseLr to {@code minLr} at step {@code totalSteps}; {@code CONSTANT} stays at baseLr.
 */
public record LrSchedule(Kind kind, float baseLr, int warmupSteps, int totalSteps, float minLr) {

    public enum Kind {
        CONSTANT, LINEAR, COSINE;

        public static Kind parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown LR schedule '" + s + "': expected constant, linear or cosine");
            }
        }
    }

    public LrSchedule {
        if (!(baseLr >= 0) || !(minLr >= 0) || Float.isInfinite(baseLr)) {
            throw new IllegalArgumentException("learning rates must be finite and ≥ 0, got " + baseLr + " and " + minLr);
        }
        if (warmupSteps < 0 || totalSteps < 0) {
            throw new IllegalArgumentException("warmup and total steps must be ≥ 0, got " + warmupSteps + ", " + totalSteps);
        }
    }

    public static LrSchedule constant(float lr) {
        return new LrSchedule(Kind.CONSTANT, lr, 0, 0, lr);
    }

    public float lr(int step) {
        if (step < warmupSteps) {
            return baseLr * (step + 1) / warmupSteps;
        }
        if (kind == Kind.CONSTANT || totalSteps <= warmupSteps) {
            return kind == Kind.CONSTANT ? baseLr : minLr;
        }
        double progress = Math.min(1.0, (double) (step - warmupSteps) / (totalSteps - warmupSteps));
        double f = kind == Kind.LINEAR ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
        return (float) (minLr + (baseLr - minLr) * f);
    }
}

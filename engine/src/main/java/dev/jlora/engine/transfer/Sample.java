package dev.jlora.engine.transfer;

/** One text task example: a prompt (the task input) and its completion (the output; empty when not yet labelled). */
public record Sample(String prompt, String completion) {
    public Sample {
        if (prompt == null || completion == null) {
            throw new IllegalArgumentException("a sample needs a prompt and a completion (may be empty), got " + prompt
                    + ", " + completion);
        }
    }
}

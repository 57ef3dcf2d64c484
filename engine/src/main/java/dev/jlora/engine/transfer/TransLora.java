package dev.jlora.engine.transfer;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.data.Example;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainListener;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Trans-LoRA (Wang et al. 2024, "Trans-LoRA: towards data-free Transferable Parameter Efficient Finetuning", §3 and
 * Figure 2): moves a LoRA from a source base model to a target base model without the task's data, from a handful
 * of seed examples.
 * <ol>
 * <li>Synthetic inputs (§3.2): the source model with its adapter, prompted with a few seed inputs, writes new ones
 * ({@link SyntheticData#prompts}).</li>
 * <li>Discriminator (§3.2): a LoRA on the source base learns to tell the seed inputs from as many synthetic ones
 * ({@link Discriminator}); new synthetic inputs are kept only when it takes them for real, round after round, until
 * enough are kept (the paper's filter, which makes the synthetic set resemble the real distribution). When too few
 * pass in the allowed rounds, the best-scoring rejected inputs make up the number, and the result says so.</li>
 * <li>Distillation (§3.1): the source model with its adapter (the teacher) completes every kept input; a fresh LoRA
 * on the target base is trained on these prompt/completion pairs, the loss on the teacher's completion only
 * (sequence-level knowledge distillation, as the paper trains its student). Text is the interface, so the two bases
 * may have different tokenizers and shapes.</li>
 * </ol>
 * The reported check is the distillation loss on held-out kept samples (the student's next-token loss on the
 * teacher's completions) before and after training the target LoRA.
 */
public final class TransLora {

    /**
     * @param syntheticPerRound  synthetic inputs generated per filtering round
     * @param keep               filtered samples wanted (training + held out)
     * @param rounds             at most this many generate-and-filter rounds
     * @param shots              seed inputs shown per generation
     * @param maxPromptTokens    longest synthetic input
     * @param maxCompletionTokens longest teacher completion
     * @param separator          between the seed inputs of a generation prompt; ends a generated input
     * @param temperature        sampling temperature of the generator
     * @param discriminatorLora  discriminator LoRA shape
     * @param discriminatorTrain discriminator training (its seqLen must hold an input and the question)
     * @param studentLora        the transferred LoRA's shape
     * @param studentTrain       the transferred LoRA's training
     * @param heldOutFraction    kept samples held out for the reported distillation loss
     * @param seed               every random draw of the pipeline
     */
    public record Config(int syntheticPerRound, int keep, int rounds, int shots, int maxPromptTokens,
                         int maxCompletionTokens, String separator, float temperature, LoraConfig discriminatorLora,
                         TrainConfig discriminatorTrain, LoraConfig studentLora, TrainConfig studentTrain,
                         double heldOutFraction, long seed) {
        public Config {
            if (syntheticPerRound <= 0 || keep < 2 || rounds <= 0 || shots <= 0 || maxPromptTokens <= 0
                    || maxCompletionTokens <= 0) {
                throw new IllegalArgumentException("Trans-LoRA needs positive synthetic-per-round, rounds, shots and token "
                        + "limits, and keep ≥ 2 (training and held-out samples); got " + syntheticPerRound + ", "
                        + rounds + ", " + shots + ", " + maxPromptTokens + ", " + maxCompletionTokens + ", keep " + keep);
            }
            if (separator.isEmpty()) {
                throw new IllegalArgumentException("the separator between seed inputs must not be empty");
            }
            if (!(heldOutFraction > 0 && heldOutFraction < 1)) {
                throw new IllegalArgumentException("held-out fraction must be in (0, 1), got " + heldOutFraction);
            }
        }
    }

    /**
     * @param adapter               the LoRA trained on the target base
     * @param generated             synthetic inputs generated for filtering
     * @param acceptedByDiscriminator how many of them the discriminator took for real (the rest of the kept ones
     *                              were the best-scoring rejected inputs, when too few passed)
     * @param samples               the kept inputs with the teacher's completions (what the student trained on)
     * @param discriminatorAccuracy the discriminator on its own training inputs (real and synthetic)
     * @param heldOutLossBefore     student loss on held-out samples before training (the target base alone)
     * @param heldOutLossAfter      the same after training
     */
    public record Result(TrainableAdapterSet adapter, int generated, int acceptedByDiscriminator, List<Sample> samples,
                         double discriminatorAccuracy, double heldOutLossBefore, double heldOutLossAfter) {}

    private record Scored(String text, double score) {}

    private TransLora() {}

    /**
     * Transfers {@code sourceAdapter} (on {@code source}) to {@code target}, from the task's {@code seeds}; run
     * files (metrics of the discriminator and the student) go under {@code workDir}; progress to {@code log}.
     */
    public static Result transfer(LlamaModel source, AdapterSet sourceAdapter, LlamaModel target, List<Sample> seeds,
                                  Config cfg, Path workDir, Consumer<String> log, TrainListener studentListener)
            throws IOException {
        if (seeds.isEmpty()) {
            throw new IllegalArgumentException("Trans-LoRA needs at least one seed example");
        }
        var rnd = new SplittableRandom(cfg.seed());
        List<String> real = seeds.stream().map(s -> s.prompt().strip()).toList();
        List<String> negatives = SyntheticData.prompts(source, sourceAdapter, seeds, real.size(), cfg.shots(),
                cfg.maxPromptTokens(), cfg.separator(), cfg.temperature(), rnd);
        if (negatives.isEmpty()) {
            throw new IllegalStateException("the source model generated no synthetic input from the seeds");
        }
        log.accept("discriminator: training on " + real.size() + " real and " + negatives.size() + " synthetic inputs");
        var disc = Discriminator.train(source, real, negatives, cfg.discriminatorLora(), cfg.discriminatorTrain(),
                workDir.resolve("discriminator"));
        double accuracy = disc.accuracy(real, negatives);
        log.accept(String.format(java.util.Locale.ROOT, "discriminator: %.0f%% right on its training inputs", 100 * accuracy));

        var kept = new ArrayList<String>();
        var rejected = new ArrayList<Scored>();
        int generated = 0;
        for (int round = 0; round < cfg.rounds() && kept.size() < cfg.keep(); round++) {
            var pool = SyntheticData.prompts(source, sourceAdapter, seeds, cfg.syntheticPerRound(), cfg.shots(),
                    cfg.maxPromptTokens(), cfg.separator(), cfg.temperature(), rnd);
            generated += pool.size();
            for (String p : pool) {
                double score = disc.score(p);
                if (kept.size() < cfg.keep() && score > 0) {
                    kept.add(p);
                } else {
                    rejected.add(new Scored(p, score));
                }
            }
            log.accept("filter round " + (round + 1) + ": the discriminator took " + kept.size() + " of " + generated
                    + " synthetic inputs for real");
        }
        int accepted = kept.size();
        if (accepted < cfg.keep()) {
            // Not in the paper, which generates until enough pass: after the last round the best-scoring rejected
            // inputs make up the number, so a strict discriminator on a weak generator still leaves data to learn from.
            rejected.sort(java.util.Comparator.comparingDouble(Scored::score).reversed());
            for (int i = 0; i < rejected.size() && kept.size() < cfg.keep(); i++) {
                kept.add(rejected.get(i).text());
            }
            log.accept("filter: " + (kept.size() - accepted) + " more inputs taken by discriminator score after "
                    + cfg.rounds() + " rounds (too few passed)");
        }
        if (kept.size() < 2) {
            throw new IllegalStateException("only " + kept.size() + " synthetic inputs were generated; need at least 2");
        }
        List<Sample> samples = SyntheticData.label(source, sourceAdapter, kept, cfg.maxCompletionTokens(), cfg.separator());
        if (samples.size() < 2) {
            throw new IllegalStateException("the teacher completed only " + samples.size() + " of " + kept.size()
                    + " kept inputs with non-blank text; need at least 2");
        }
        log.accept("teacher: labelled " + samples.size() + " inputs");

        var examples = new ArrayList<Example>();
        for (int i = 0; i < samples.size(); i++) {
            Sample s = samples.get(i);
            try {
                examples.add(JsonlDataset.example(Map.of("prompt", s.prompt(), "completion", s.completion()),
                        target.tokenizer(), "synthetic:" + i));
            } catch (ModelFormatException e) {
                throw new IllegalArgumentException(e.getMessage(), e);
            }
        }
        TrainConfig st = cfg.studentTrain();
        var data = Dataset.of(examples, target.tokenizer(), st.seqLen(), cfg.heldOutFraction(), cfg.seed());
        var student = TrainableAdapterSet.lora(target.weights(), cfg.studentLora(), cfg.seed());
        var trainer = new Trainer(target, student, data, st, workDir.resolve("student"));
        double before = trainer.evaluate();
        trainer.train(studentListener);
        double after = trainer.evaluate();
        return new Result(student, generated, accepted, List.copyOf(samples), accuracy, before, after);
    }
}

package dev.jlora.cli;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.JsonParseException;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.transfer.Sample;
import dev.jlora.engine.transfer.TransLora;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import dev.jlora.loaders.io.AtomicFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jlora transfer --source-model A --adapter X --target-model B --seed-data FILE --out DIR}: Trans-LoRA
 * ({@link TransLora}), an adapter moved to another base model through filtered synthetic data.
 */
@Command(name = "transfer", mixinStandardHelpOptions = true,
        description = {"Transfer a LoRA to another base model without its training data (Trans-LoRA).",
                "The source model with the adapter writes synthetic task inputs from a few seed examples; a",
                "discriminator LoRA trained on the source keeps those it takes for real; the source+adapter",
                "completes them, and a new LoRA on the target model is trained on these completions. Writes",
                "DIR/adapter.jlora and DIR/synthetic.jsonl; prints the held-out distillation loss before and after."})
final class TransferCommand implements Callable<Integer> {

    @Option(names = "--source-model", required = true, paramLabel = "MODEL", description = "the base the adapter was trained on")
    String sourceModel;

    @Option(names = "--adapter", required = true, paramLabel = "PATH", description = "the adapter to transfer: .jlora, PEFT directory or LoRA GGUF")
    Path adapter;

    @Option(names = "--target-model", required = true, paramLabel = "MODEL", description = "the base to transfer to")
    String targetModel;

    @Option(names = "--seed-data", required = true, paramLabel = "FILE",
            description = "JSONL seed examples of the task: {\"prompt\": …, \"completion\": …} or {\"text\": …}")
    Path seedData;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output directory")
    Path out;

    @Option(names = "--keep", defaultValue = "64", paramLabel = "N", description = "filtered synthetic samples to train on, 20% held out (default: ${DEFAULT-VALUE})")
    int keep;

    @Option(names = "--synthetic-per-round", defaultValue = "64", paramLabel = "N", description = "synthetic inputs generated per filter round (default: ${DEFAULT-VALUE})")
    int perRound;

    @Option(names = "--rounds", defaultValue = "8", paramLabel = "N", description = "at most this many generate-and-filter rounds (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--shots", defaultValue = "3", paramLabel = "N", description = "seed inputs shown per generation (default: ${DEFAULT-VALUE})")
    int shots;

    @Option(names = "--max-prompt-tokens", defaultValue = "64", paramLabel = "N", description = "longest synthetic input (default: ${DEFAULT-VALUE})")
    int maxPromptTokens;

    @Option(names = "--max-completion-tokens", defaultValue = "64", paramLabel = "N", description = "longest teacher completion (default: ${DEFAULT-VALUE})")
    int maxCompletionTokens;

    @Option(names = "--temperature", defaultValue = "0.8", paramLabel = "T", description = "generator sampling temperature (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--rank", defaultValue = "8", paramLabel = "R", description = "rank of the transferred LoRA (default: ${DEFAULT-VALUE})")
    int rank;

    @Option(names = "--alpha", defaultValue = "16", paramLabel = "A", description = "its LoRA alpha (default: ${DEFAULT-VALUE})")
    float alpha;

    @Option(names = "--targets", defaultValue = "q,v", paramLabel = "T", description = "its target modules (default: ${DEFAULT-VALUE})")
    String targets;

    @Option(names = "--steps", defaultValue = "100", paramLabel = "N", description = "training steps of the transferred LoRA (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--discriminator-steps", defaultValue = "60", paramLabel = "N", description = "training steps of the discriminator (default: ${DEFAULT-VALUE})")
    int discriminatorSteps;

    @Option(names = "--batch-size", defaultValue = "4", paramLabel = "B", description = "batch size of both trainings (default: ${DEFAULT-VALUE})")
    int batchSize;

    @Option(names = "--seq-len", defaultValue = "128", paramLabel = "T", description = "tokens per packed row of both trainings (default: ${DEFAULT-VALUE})")
    int seqLen;

    @Option(names = "--lr", defaultValue = "1e-3", paramLabel = "LR", description = "learning rate of both trainings (default: ${DEFAULT-VALUE})")
    float lr;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "seed of every random draw (default: ${DEFAULT-VALUE})")
    long seed;

    @Override
    public Integer call() throws Exception {
        List<Sample> seeds = readSeeds(seedData);
        Path sourcePath = ModelFiles.resolve(sourceModel), targetPath = ModelFiles.resolve(targetModel);
        LlamaModel source = ModelLoader.load(sourcePath);
        LlamaModel target = ModelLoader.load(targetPath);
        var sourceAdapter = AdapterFiles.load(adapter, source);
        var lora = new LoraConfig(rank, alpha, 0f, false, LoraConfig.parseTargets(targets));
        TrainConfig studentTrain = TrainConfig.builder().steps(steps).batchSize(batchSize).seqLen(seqLen).lr(lr).seed(seed).build();
        TrainConfig discriminatorTrain = studentTrain.toBuilder().steps(discriminatorSteps).build();
        var cfg = new TransLora.Config(perRound, keep, rounds, shots, maxPromptTokens, maxCompletionTokens, "\n",
                temperature, lora, discriminatorTrain, lora, studentTrain, 0.2, seed);
        Files.createDirectories(out);
        long t0 = System.nanoTime();
        var r = TransLora.transfer(source, sourceAdapter, target, seeds, cfg, out,
                msg -> System.out.printf(Locale.ROOT, "[%5.1f s] %s%n", (System.nanoTime() - t0) / 1e9, msg), null);
        AdapterFiles.save(out.resolve("adapter.jlora"), AdapterFiles.Format.JLORA, r.adapter(), target.config(),
                targetPath.getFileName().toString());
        var lines = new StringBuilder();
        for (Sample s : r.samples()) {
            var m = new LinkedHashMap<String, Object>();
            m.put("prompt", s.prompt());
            m.put("completion", s.completion());
            lines.append(Json.write(m)).append('\n');
        }
        AtomicFile.writeString(out.resolve("synthetic.jsonl"), lines.toString());
        System.out.printf(Locale.ROOT, "synthetic inputs: %d generated, %d taken for real by the discriminator (%.0f%% right on "
                        + "its training inputs), %d trained on%n", r.generated(), r.acceptedByDiscriminator(),
                100 * r.discriminatorAccuracy(), r.samples().size());
        System.out.printf(Locale.ROOT, "held-out distillation loss on %s: %.4f before, %.4f after%n",
                targetPath.getFileName(), r.heldOutLossBefore(), r.heldOutLossAfter());
        System.out.printf("wrote %s and %s%n", out.resolve("adapter.jlora"), out.resolve("synthetic.jsonl"));
        return 0;
    }

    /** Seed examples: prompt/completion pairs, or a text that is all prompt. */
    static List<Sample> readSeeds(Path file) throws java.io.IOException {
        var out = new ArrayList<Sample>();
        int lineNo = 0;
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            lineNo++;
            if (line.isBlank()) {
                continue;
            }
            String where = file.getFileName() + ":" + lineNo;
            Map<String, Object> m;
            try {
                m = Json.parseObject(line, Json.Limits.DEFAULT, where);
            } catch (JsonParseException e) {
                throw new ModelFormatException(e.getMessage(), e);
            }
            if (m.get("prompt") instanceof String p) {
                out.add(new Sample(p, m.get("completion") instanceof String c ? c : ""));
            } else if (m.get("text") instanceof String t) {
                out.add(new Sample(t, ""));
            } else {
                throw new ModelFormatException(where + ": expected a string field \"prompt\" (with \"completion\") or \"text\", found keys " + m.keySet());
            }
        }
        if (out.isEmpty()) {
            throw new ModelFormatException(file + ": no seed examples");
        }
        return out;
    }
}

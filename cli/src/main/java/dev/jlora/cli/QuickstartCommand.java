package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.infer.GenerationConfig;
import dev.jlora.engine.infer.Generator;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.SamplerConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.optim.LrSchedule;
import dev.jlora.engine.train.TrainConfig;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jlora quickstart}: fine-tunes the demo model (stories260K) on a small built-in set of stories about a dog
 * named Max and a few questions about him, showing greedy generations before and after.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true,
        description = {"Fine-tune the demo model (stories260K) with LoRA on a small built-in dataset (about a minute "
                + "on 2 cores), then compare greedy generations before and after.",
                "Writes OUT/adapter.jlora, OUT/metrics.jsonl and the loss plot OUT/loss.svg."})
final class QuickstartCommand implements Callable<Integer> {
    static final String DATA = "quickstart.jsonl";
    static final List<String> PROMPTS = List.of("Once upon a time", "Q: What is the name of the dog?\nA:");

    @Option(names = "--out", defaultValue = "jlora-quickstart", description = "Output folder (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--steps", defaultValue = "120", description = "Optimizer steps (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--seed", defaultValue = "42", description = "Seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--max-tokens", defaultValue = "48", description = "Tokens generated per prompt (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Override
    public Integer call() throws Exception {
        PrintStream o = System.out;
        LlamaModel m = CliModels.load("demo", null);
        o.printf("demo model: stories260K (%d layers, dim %d, vocab %d)%n", m.config().nLayers(), m.config().dim(),
                m.config().vocabSize());
        o.println("\n== before fine-tuning (greedy) ==");
        printGenerations(m, AdapterSet.NONE, o);

        List<dev.jlora.engine.data.Example> examples;
        try (var in = QuickstartCommand.class.getResourceAsStream(DATA)) {
            if (in == null) {
                throw new IllegalStateException("built-in dataset " + DATA + " is missing from the jlora jar");
            }
            examples = JsonlDataset.read(DATA, new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)),
                    m.tokenizer());
        }
        int seqLen = 128;
        Dataset ds = Dataset.of(examples, m.tokenizer(), seqLen, 0.1, seed);
        var lora = new LoraConfig(8, 16f, 0f, false, LoraConfig.parseTargets("all-linear"));
        var adapters = TrainableAdapterSet.lora(m.weights(), lora, seed);
        var cfg = TrainConfig.builder().steps(steps).batchSize(4).seqLen(seqLen).lr(3e-3f)
                .schedule(LrSchedule.Kind.COSINE).warmupSteps(Math.min(10, steps / 10)).minLr(3e-4f)
                .evalEvery(Math.max(1, steps / 4)).seed(seed).build();
        o.printf(Locale.ROOT, "%n== fine-tuning: %d examples (%d rows of %d tokens, %d held out), LoRA r=8 on all "
                        + "linear layers (%,d parameters), %d steps ==%n", examples.size(), ds.train().size(), seqLen,
                ds.eval().size(), adapters.parameterCount(), steps);
        TrainCommand.run(m, adapters, ds, cfg, out, false, Map.of("base_model", "demo", "data", "built-in " + DATA), o,
                Math.max(1, steps / 12), true, java.util.List.of());

        o.println("\n== after fine-tuning (greedy) ==");
        printGenerations(m, adapters, o);
        o.printf("%nloss plot (open in a browser): %s%n", out.resolve(dev.jlora.engine.train.LossPlot.FILE_NAME));
        return 0;
    }

    /** Control characters a tiny model may emit (byte tokens such as <0x00>) shown as \\uXXXX, not sent to the terminal. */
    static String printable(String s) {
        var sb = new StringBuilder(s.length());
        s.codePoints().forEach(c -> {
            if (Character.isISOControl(c) && c != '\n' && c != '\t') {
                sb.append(String.format("\\u%04x", c));
            } else {
                sb.appendCodePoint(c);
            }
        });
        return sb.toString();
    }

    private void printGenerations(LlamaModel m, AdapterSet adapters, PrintStream o) {
        for (String prompt : PROMPTS) {
            var gen = new Generator(new InferenceSession(m, adapters, 256), m.tokenizer());
            var r = gen.generate(m.tokenizer().encode(prompt, true, false),
                    new GenerationConfig(maxTokens, SamplerConfig.greedy()), Generator.Listener.NONE);
            o.printf("%s%s%n", prompt.replace("\n", "\n  "), printable(r.text()).replace("\n", "\n  "));
        }
    }
}

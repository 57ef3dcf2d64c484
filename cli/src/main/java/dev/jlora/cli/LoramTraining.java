package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterInit;
import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.HyperParams;
import dev.jlora.engine.adapter.RandomInit;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.prune.Loram;
import dev.jlora.engine.prune.StructuredMask;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.engine.train.InitBatches;
import dev.jlora.loaders.io.AtomicFile;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * {@code jlora train --method loram}: LoRA trained on a structurally pruned copy of the base, saved recovered to the
 * full model's shape as a plain {@code lora} adapter ({@link Loram}).
 */
final class LoramTraining {
    private LoramTraining() {}

    static final String METHOD = "loram";
    private static final List<String> COMMON = List.of("method", "rank", "alpha", "dropout", "rs_lora");

    static boolean is(String method) {
        return method.trim().equalsIgnoreCase(METHOD);
    }

    /** Prunes {@code m} by the loram keys of {@code params} and prints what training saves. */
    static Loram prune(LlamaModel m, Map<String, String> params, String init, List<String> trainBase, Dataset ds,
                       int batchSize, long seed, PrintStream o) {
        AdapterInit ai = AdapterInit.parse(init);
        if (ai != RandomInit.KAIMING && ai != RandomInit.GAUSSIAN) {
            throw new IllegalArgumentException("--method loram trains plain LoRA on the pruned base: --init " + init
                    + " is not supported (kaiming or gaussian)");
        }
        if (!trainBase.isEmpty()) {
            throw new IllegalArgumentException("--method loram cannot be combined with --train-base: the recovered "
                    + "adapter is a LoRA of the full model");
        }
        var known = new TreeSet<>(COMMON);
        known.addAll(AdapterMethods.method(METHOD).keys().keySet());
        var p = new HyperParams("adapter method loram", params).requireKnown(known);
        boolean taylor = !p.str("criterion", "random").trim().toLowerCase(Locale.ROOT).startsWith("rand");
        Loram loram = Loram.prune(m, p, seed, taylor ? new InitBatches(m, ds, batchSize, seed) : null);
        LlamaConfig f = m.config(), s = loram.prunedModel().config();
        long fullBytes = m.weights().storageBytes(), smallBytes = loram.prunedModel().weights().storageBytes();
        o.printf(Locale.ROOT, "loram: pruned base (%s): %d→%d KV head groups (%d→%d query heads), FFN width %d→%d per "
                        + "block; base weights %.2f→%.2f MiB (%.1f%%), block activations %d→%d floats per token%n",
                p.str("criterion", "random"), f.nKvHeads(), s.nKvHeads(), f.nHeads(), s.nHeads(), f.hiddenDim(),
                s.hiddenDim(), fullBytes / 1048576.0, smallBytes / 1048576.0, 100.0 * smallBytes / fullBytes,
                activationsPerToken(f), activationsPerToken(s));
        return loram;
    }

    /**
     * Writes the kept structures to DIR/loram-structures.txt; on {@code --resume} first checks that they are those of
     * the checkpointed run (a different --seed or ratio would silently train other rows than the checkpoint's).
     */
    static void record(Loram loram, Path out, boolean resume) throws IOException {
        var sb = new StringBuilder();
        var mask = loram.mask();
        for (int l = 0; l < mask.layers(); l++) {
            sb.append("block ").append(l).append(": kept KV head groups ")
                    .append(java.util.Arrays.toString(mask.kept(l, StructuredMask.Kind.HEADS)))
                    .append(", kept FFN channels ").append(java.util.Arrays.toString(mask.kept(l, StructuredMask.Kind.CHANNELS)))
                    .append('\n');
        }
        Path f = out.resolve("loram-structures.txt");
        if (resume && Files.exists(f) && !Files.readString(f).equals(sb.toString())) {
            throw new IllegalArgumentException("--resume: the pruned structures differ from those of the checkpointed "
                    + "run (" + f + "): give the same --seed and loram --method-arg values");
        }
        Files.createDirectories(out);
        AtomicFile.writeString(f, sb.toString());
    }

    /** Floats one block keeps per token for backward (LlamaTrainGraph: ln1, q, k, v, atty, x2, ln2, g, u, act). */
    static long activationsPerToken(LlamaConfig c) {
        return 3L * c.dim() + 2L * c.qDim() + 2L * c.kvDim() + 3L * c.hiddenDim();
    }

    /** {@code params} without loram's own keys: what the LoRA on the pruned base is created from. */
    static LinkedHashMap<String, String> loraParams(Map<String, String> params) {
        var out = new LinkedHashMap<>(params);
        out.keySet().removeAll(AdapterMethods.method(METHOD).keys().keySet());
        return out;
    }

    /** Recovers the trained pruned LoRA to the full shape and saves it over {@code file}; returns it. */
    static TrainableAdapterSet recoverAndSave(Loram loram, TrainableAdapterSet trained, Path file,
                                              Map<String, String> meta, Map<String, String> params, PrintStream o)
            throws IOException {
        TrainableAdapterSet recovered = loram.recover(trained);
        var all = new LinkedHashMap<>(meta);
        for (String k : AdapterMethods.method(METHOD).keys().keySet()) {
            all.put("loram_" + k, params.getOrDefault(k, AdapterMethods.method(METHOD).keys().get(k)));
        }
        AdapterFile.save(file, recovered, all);
        o.printf(Locale.ROOT, "loram: adapter recovered to the full model's shape (zeros at pruned rows/columns), "
                + "saved as lora: %s%n", file);
        return recovered;
    }
}

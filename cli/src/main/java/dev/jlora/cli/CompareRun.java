package dev.jlora.cli;

import dev.jlora.engine.io.Json;
import dev.jlora.loaders.io.AtomicFile;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import picocli.CommandLine;

/**
 * The child JVM of {@code jlora compare}: {@code CompareRun RESULT.json TRAIN_ARGS…} runs {@code jlora train
 * TRAIN_ARGS…} and, when it succeeds, writes RESULT.json with the trainable parameter count and the heap high-water
 * mark of this JVM (the sum of each heap pool's peak used bytes). Exits with the training's exit code.
 */
final class CompareRun {
    static final String FILE_NAME = "compare-run.json";

    private CompareRun() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: CompareRun RESULT.json TRAIN_ARGS...");
            System.exit(2);
        }
        var train = new TrainCommand();
        int code = new CommandLine(train).setExecutionExceptionHandler(Main::onError)
                .execute(Arrays.copyOfRange(args, 1, args.length));
        if (code == 0) {
            long peak = 0;
            for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
                if (pool.getType() == MemoryType.HEAP) {
                    peak += pool.getPeakUsage().getUsed();
                }
            }
            var result = new LinkedHashMap<String, Object>();
            result.put("trainable_parameters", train.trainableParameters);
            result.put("peak_heap_bytes", peak);
            AtomicFile.writeString(Path.of(args[0]), Json.writePretty(result) + "\n");
        }
        System.exit(code);
    }
}

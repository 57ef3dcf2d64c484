package dev.jlora.cli;

import dev.jlora.engine.io.Json;
import dev.jlora.loaders.io.AtomicFile;
import com.sun.management.GarbageCollectionNotificationInfo;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.NotificationEmitter;
import javax.management.openmbean.CompositeData;
import picocli.CommandLine;

/**
 * The child JVM of {@code jlora compare}: {@code CompareRun RESULT.json TRAIN_ARGS…} runs {@code jlora train
 * TRAIN_ARGS…} and, when it succeeds, writes RESULT.json with the trainable parameter count and two heap figures of
 * this JVM: the high-water mark of used heap (the sum of each heap pool's peak, garbage included) and the largest
 * heap still in use right after a garbage collection (over every collection of the run, from the collectors'
 * notifications; absent when none ran). Exits with the training's exit code.
 */
final class CompareRun {
    static final String FILE_NAME = "compare-run.json";

    private CompareRun() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: CompareRun RESULT.json TRAIN_ARGS...");
            System.exit(2);
        }
        var liveAfterGc = new AtomicLong(-1);
        watchCollections(liveAfterGc);
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
            if (liveAfterGc.get() >= 0) {
                result.put("peak_heap_after_gc_bytes", liveAfterGc.get());
            }
            AtomicFile.writeString(Path.of(args[0]), Json.writePretty(result) + "\n");
        }
        System.exit(code);
    }

    /** max ← the heap (heap pools only) in use after each collection this JVM runs. */
    private static void watchCollections(AtomicLong max) {
        var heapPools = new HashSet<String>();
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP) {
                heapPools.add(pool.getName());
            }
        }
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gc instanceof NotificationEmitter emitter) {
                emitter.addNotificationListener((n, handback) -> {
                    if (GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
                        var info = GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData());
                        long used = 0;
                        for (var e : info.getGcInfo().getMemoryUsageAfterGc().entrySet()) {
                            if (heapPools.contains(e.getKey())) {
                                used += e.getValue().getUsed();
                            }
                        }
                        max.accumulateAndGet(used, Math::max);
                    }
                }, null, null);
            }
        }
    }
}

package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.Trainer;
import dev.jlora.engine.train.TrainingHook;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Runs of the rank-adaptive methods on {@link TinyTraining}, shared by their tests. */
final class RankHookRuns {
    private RankHookRuns() {}

    static TrainableAdapterSet adapters(LlamaModel m, String method, Map<String, String> args) {
        return AdapterMethods.create(method, "kaiming", args, m.weights(), TinyTraining.LORA.targets(), 11, null)
                .adapters();
    }

    static List<TrainingHook> hooks(LlamaModel m, TrainableAdapterSet a, String method, Map<String, String> args,
                                    TrainConfig cfg) throws IOException {
        return TrainingMethods.forAdapterMethod(method, args,
                new TrainingMethods.Context(m, a, TinyTraining.data(cfg.seqLen()), cfg));
    }

    /** Trains {@code method} with its hook (plus {@code extra} hooks after it) and returns the trainer. */
    static Trainer train(LlamaModel m, TrainableAdapterSet a, String method, Map<String, String> args, TrainConfig cfg,
                         Path dir, List<TrainingHook> extra) throws IOException {
        var hooks = new ArrayList<>(hooks(m, a, method, args, cfg));
        hooks.addAll(extra);
        var t = new Trainer(m, a, TinyTraining.data(cfg.seqLen()), cfg, dir, hooks);
        t.train(null);
        return t;
    }

    /** {@code key} of each logged training step, in step order. */
    static List<Object> logged(Path dir, String key) throws IOException {
        var out = new ArrayList<Object>();
        for (String line : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
            var m = Json.parseObject(line, Json.Limits.DEFAULT, "metrics");
            if ("train".equals(m.get("kind"))) {
                out.add(m.get(key));
            }
        }
        return out;
    }

    /**
     * Trains 8 bit-reproducible steps with a checkpoint every 3, resumes a fresh run from step 3, and checks that it
     * logs the same {@code key} values and ends with bit-identical adapters.
     */
    static void resumeContinuesExactly(String method, Map<String, String> args, String key, Path dir) throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().steps(8).evalEvery(0).checkpointEvery(3).keepCheckpoints(5)
                .bitReproducible(true).build();
        var full = adapters(m, method, args);
        train(m, full, method, args, cfg, dir, List.of());
        List<Object> values = logged(dir, key);

        var resumed = adapters(m, method, args);
        var trainer = new Trainer(m, resumed, TinyTraining.data(cfg.seqLen()), cfg, dir,
                hooks(m, resumed, method, args, cfg));
        trainer.resume(dir.resolve("checkpoints/checkpoint-000003.jlck"));
        trainer.train(null);
        assertEquals(values, logged(dir, key), method + ": the resumed run logs the same " + key);
        var want = full.state();
        resumed.state().forEach((k, v) -> assertArrayEquals(want.get(k), v, method + ": " + k + " after resume"));
    }
}

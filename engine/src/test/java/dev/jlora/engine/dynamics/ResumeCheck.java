package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.TrainListener;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A run interrupted halfway and resumed from its checkpoint ends with the adapter values of an uninterrupted run,
 * bit for bit (scalar kernels): the hook's checkpointed state is all it needs.
 */
final class ResumeCheck {
    private ResumeCheck() {}

    static void resumesExactly(LlamaModel m, Supplier<TrainableAdapterSet> adapters, TrainConfig cfg, String dynamics,
                               Map<String, String> args, Path dir) throws IOException {
        TrainConfig c = cfg.toBuilder().bitReproducible(true).checkpointEvery(0).build();
        Dataset data = dev.jlora.engine.ref.TinyTraining.data(c.seqLen());
        TrainableAdapterSet whole = adapters.get();
        new Trainer(m, whole, data, c, dir.resolve("whole"), hooks(m, whole, data, c, dynamics, args)).train(null);

        TrainableAdapterSet first = adapters.get();
        var t1 = new Trainer(m, first, data, c, dir.resolve("split"), hooks(m, first, data, c, dynamics, args));
        int stopAt = c.steps() / 2;
        var r = t1.train(new TrainListener() {
            @Override public void onStep(Step s) {
                if (s.step() == stopAt) {
                    t1.requestStop();
                }
            }
        });
        assertEquals(stopAt, r.step(), "stopped halfway");
        TrainableAdapterSet resumed = adapters.get();
        var t2 = new Trainer(m, resumed, data, c, dir.resolve("split"), hooks(m, resumed, data, c, dynamics, args));
        t2.resume(Trainer.latestCheckpoint(dir.resolve("split")));
        t2.train(null);
        List<Parameter> want = whole.parameters(), got = resumed.parameters();
        for (int i = 0; i < want.size(); i++) {
            assertArrayEquals(want.get(i).value(), got.get(i).value(), 0f,
                    dynamics + ": " + want.get(i).name() + " after resume vs uninterrupted");
        }
    }

    private static List<dev.jlora.engine.train.TrainingHook> hooks(LlamaModel m, TrainableAdapterSet a, Dataset d,
                                                                  TrainConfig c, String dynamics, Map<String, String> args) {
        return TrainingMethods.create(List.of(dynamics), args, new TrainingMethods.Context(m, a, d, c));
    }
}

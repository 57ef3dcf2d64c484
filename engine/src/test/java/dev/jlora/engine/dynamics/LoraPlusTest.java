package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.train.Trainer;
import dev.jlora.engine.ref.TinyTraining;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraPlusTest {
    @TempDir
    Path dir;

    @Test
    void bMovesRatioTimesFurtherThanItsGradientUnderPlainSgd() throws IOException {
        var m = TinyTraining.model();
        var adapters = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 11);
        // One SGD step without momentum, clipping or decay: Δp = −lr·scale·g exactly (up to float rounding).
        var cfg = TinyTraining.config().steps(1).gradAccum(1).optimizer("sgd").momentum(0).maxGradNorm(0).warmupSteps(0)
                .evalEvery(0).build();
        var data = TinyTraining.data(cfg.seqLen());
        var ctx = new TrainingMethods.Context(m, adapters, data, cfg);
        var hooks = TrainingMethods.create(List.of("loraplus"), Map.of("loraplus_lr_ratio", "4"), ctx);
        Map<String, float[]> before = new HashMap<>();
        for (Parameter p : adapters.parameters()) {
            before.put(p.name(), p.value().clone());
        }
        new Trainer(m, adapters, data, cfg, dir, hooks).train(null);
        float lr = cfg.lrSchedule().lr(0);
        int checkedB = 0;
        for (Parameter p : adapters.parameters()) {
            double scale = p.name().endsWith("lora_B") ? 4 : 1;
            checkedB += scale == 4 ? 1 : 0;
            float[] was = before.get(p.name());
            for (int i = 0; i < was.length; i++) {
                double want = was[i] - lr * scale * p.grad()[i];
                // float32 update of a float32 value: one rounding of the product and one of the difference
                assertEquals(want, p.value()[i], 1e-6 * Math.abs(want) + 1e-9, p.name() + "[" + i + "]");
            }
        }
        assertTrue(checkedB > 0, "the model has lora_B tensors");
    }

    @Test
    void rejectsAdaptersWithoutBAndBadRatios() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().build();
        var data = TinyTraining.data(cfg.seqLen());
        var vera = AdapterMethods.create("vera", "kaiming", Map.of("rank", "8"), m.weights(),
                TinyTraining.LORA.targets(), 1, null).adapters();
        var e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("loraplus"),
                Map.of(), new TrainingMethods.Context(m, vera, data, cfg)));
        assertTrue(e.getMessage().contains("lora_B"), e.getMessage());
        var lora = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 11);
        var ctx = new TrainingMethods.Context(m, lora, data, cfg);
        e = assertThrows(IllegalArgumentException.class,
                () -> TrainingMethods.create(List.of("loraplus"), Map.of("loraplus_lr_ratio", "-1"), ctx));
        assertTrue(e.getMessage().contains("positive"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> TrainingMethods.create(List.of("loraplus"), Map.of("ratio", "2"), ctx));
        assertTrue(e.getMessage().contains("'ratio' belongs to none of [loraplus]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("nope"), Map.of(), ctx));
        assertTrue(e.getMessage().contains("unknown training dynamics 'nope'"), e.getMessage());
    }
}

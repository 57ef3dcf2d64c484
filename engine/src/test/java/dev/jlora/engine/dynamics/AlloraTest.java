package dev.jlora.engine.dynamics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.ref.TinyTraining;
import dev.jlora.engine.train.TrainConfig;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class AlloraTest {
    /** Scale 1 (alpha = rank), no dropout: what ALLoRA requires. */
    static final LoraConfig LORA = new LoraConfig(4, 4f, 0f, false, EnumSet.of(Target.Q, Target.V, Target.DOWN));

    @TempDir
    Path dir;

    /** Values after one step from the same start, with or without ALLoRA. */
    private static List<float[]> oneStep(TrainConfig cfg, boolean allora, Path out, List<float[]> start) throws IOException {
        var m = TinyTraining.model();
        var adapters = TrainableAdapterSet.lora(m.weights(), LORA, 11);
        var data = TinyTraining.data(cfg.seqLen());
        var hooks = allora ? TrainingMethods.create(List.of("allora"), Map.of("allora_eta", "3"),
                new TrainingMethods.Context(m, adapters, data, cfg)) : List.<dev.jlora.engine.train.TrainingHook>of();
        for (Parameter p : adapters.parameters()) {
            start.add(p.value().clone());
        }
        new Trainer(m, adapters, data, cfg, out, hooks).train(null);
        return adapters.parameters().stream().map(Parameter::value).toList();
    }

    /**
     * The defining rule: each row θ of A and B moves 1/√(‖θ‖² + 1/η²) times as far as it would without ALLoRA
     * (the same first step from the same start: same gradients). Rows of B start at 0, so they move η times further.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"sgd", "adamw"})
    void everyRowStepIsScaledByTheInverseOfItsNorm(String optimizer) throws IOException {
        var cfg = TinyTraining.config().steps(1).optimizer(optimizer).momentum(0.9f)
                // SGD's L2 term is added by the optimizer after ALLoRA scaled the gradient: the rule covers the loss
                // gradient only, so decay is off for SGD here; AdamW's decoupled decay is part of the scaled update
                .weightDecay(optimizer.equals("sgd") ? 0f : 0.01f)
                .warmupSteps(0).evalEvery(0).bitReproducible(true).build();
        var start = new java.util.ArrayList<float[]>();
        List<float[]> plain = oneStep(cfg, false, dir.resolve("plain"), new java.util.ArrayList<>());
        List<float[]> scaled = oneStep(cfg, true, dir.resolve("allora"), start);
        var names = TrainableAdapterSet.lora(TinyTraining.model().weights(), LORA, 11).parameters();
        int rowsChecked = 0;
        for (int k = 0; k < names.size(); k++) {
            int rows = names.get(k).shape()[0], cols = names.get(k).size() / rows;
            for (int i = 0; i < rows; i++) {
                double ss = 0;
                for (int j = 0; j < cols; j++) {
                    ss += (double) start.get(k)[i * cols + j] * start.get(k)[i * cols + j];
                }
                double f = 1 / Math.sqrt(ss + 1 / 9.0);
                for (int j = 0; j < cols; j++) {
                    int e = i * cols + j;
                    double plainStep = plain.get(k)[e] - start.get(k)[e], step = scaled.get(k)[e] - start.get(k)[e];
                    // float32 values of O(1) and steps of O(lr): the differences carry ~1e-7 absolute rounding
                    assertEquals(f * plainStep, step, 2e-7 + 1e-4 * Math.abs(step), names.get(k).name() + "[" + e + "]");
                }
                rowsChecked++;
            }
            if (names.get(k).name().endsWith("lora_B")) {
                double moved = 0;
                for (float v : scaled.get(k)) {
                    moved = Math.max(moved, Math.abs(v));
                }
                assertTrue(moved > 0, "B leaves 0 on the first step");
            }
        }
        assertTrue(rowsChecked > 100, "rows checked: " + rowsChecked);
    }

    @Test
    void resumesExactly() throws IOException {
        var m = TinyTraining.model();
        ResumeCheck.resumesExactly(m, () -> TrainableAdapterSet.lora(m.weights(), LORA, 11),
                TinyTraining.config().steps(4).build(), "allora", Map.of(), dir);
    }

    @Test
    void refusesDropoutScalingAndOtherMethods() throws IOException {
        var m = TinyTraining.model();
        var cfg = TinyTraining.config().build();
        var data = TinyTraining.data(cfg.seqLen());
        var withDropout = TrainableAdapterSet.lora(m.weights(), TinyTraining.LORA, 11);
        var e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("allora"), Map.of(),
                new TrainingMethods.Context(m, withDropout, data, cfg)));
        assertTrue(e.getMessage().contains("--dropout 0 and --alpha 4"), e.getMessage());
        var ok = TrainableAdapterSet.lora(m.weights(), LORA, 11);
        e = assertThrows(IllegalArgumentException.class, () -> TrainingMethods.create(List.of("allora"),
                Map.of("allora_eta", "0"), new TrainingMethods.Context(m, ok, data, cfg)));
        assertTrue(e.getMessage().contains("allora_eta must be a positive number"), e.getMessage());
    }
}

package dev.jlora.loaders.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.AdapterMethods;
import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.safetensors.SafetensorsFile;
import dev.jlora.loaders.safetensors.SafetensorsReader;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * VeRA written in PEFT's format: ΔW recomputed from the files with PEFT's own formula
 * ({@code vera/layer.py get_delta_weight}: (λ_b ⊙ vera_B[:OC]) @ (λ_d ⊙ vera_A[:, :IC])) equals jlora's merged ΔW.
 */
class PeftVeraTest {
    @TempDir
    Path tmp;

    static final Set<Target> TARGETS = EnumSet.of(Target.V, Target.O, Target.UP, Target.DOWN);

    static TrainableAdapterSet trainedVera(LlamaModel model, Set<Target> targets) {
        var set = AdapterMethods.create("vera", "kaiming", Map.of("rank", "4", "d_initial", "0.1"), model.weights(),
                targets, 3, null).adapters();
        var rnd = new SplittableRandom(9);
        for (Parameter p : set.parameters()) {
            for (int i = 0; i < p.value().length; i++) {
                p.value()[i] = (float) rnd.nextDouble(-1, 1);   // λ_b ≠ 0: a non-zero update
            }
        }
        return set;
    }

    @Test
    @SuppressWarnings("unchecked")
    void peftFormulaOnTheWrittenFilesGivesJlorasDeltaW() throws IOException {
        LlamaModel model = AdapterFixtures.model(false);
        var set = trainedVera(model, TARGETS);
        Path dir = tmp.resolve("vera");
        PeftAdapter.write(dir, set, model.config(), "tiny");
        var conf = (Map<String, Object>) Json.read(dir.resolve(PeftAdapter.CONFIG));
        assertEquals("VERA", conf.get("peft_type"));
        assertEquals(4L, conf.get("r"));
        assertEquals(true, conf.get("save_projection"));
        assertEquals(List.of("down_proj", "o_proj", "up_proj", "v_proj"), ((List<Object>) conf.get("target_modules"))
                .stream().sorted().toList());
        try (SafetensorsFile f = SafetensorsReader.open(dir.resolve(PeftAdapter.WEIGHTS))) {
            float[] a = f.readFloats("base_model.vera_A"), b = f.readFloats("base_model.vera_B");
            long[] aShape = f.tensors().get("base_model.vera_A").shape();
            int r = (int) aShape[0], maxIn = (int) aShape[1];
            for (int l = 0; l < model.config().nLayers(); l++) {
                for (Target t : TARGETS) {
                    String m = "base_model.model." + PeftAdapter.module(l, t);
                    float[] lb = f.readFloats(m + ".vera_lambda_b"), ld = f.readFloats(m + ".vera_lambda_d");
                    var adapter = set.get(l, t);
                    int OC = adapter.outFeatures(), IC = adapter.inFeatures();
                    float[] want = new float[OC * IC];
                    adapter.mergeInto(want);
                    double maxErr = 0, maxAbs = 0;
                    for (int o = 0; o < OC; o++) {
                        for (int i = 0; i < IC; i++) {
                            double s = 0;
                            for (int k = 0; k < r; k++) {
                                s += (double) lb[o] * b[o * r + k] * ld[k] * a[k * maxIn + i];
                            }
                            maxErr = Math.max(maxErr, Math.abs(s - want[o * IC + i]));
                            maxAbs = Math.max(maxAbs, Math.abs(s));
                        }
                    }
                    // fp32 merge against a float64 sum of r = 4 products: a few ulps of the largest entry
                    assertTrue(maxAbs > 0 && maxErr <= 1e-6 * maxAbs, "layer " + l + " " + t + ": " + maxErr);
                }
            }
        }
        var e = assertThrows(ModelFormatException.class, () -> PeftAdapter.read(dir, model, w -> {}));
        assertTrue(e.getMessage().contains("reads VeRA back only from .jlora"), e.getMessage());
    }

    @Test
    void queryAndKeyOfAPermutedGgufBaseAreRefused() {
        LlamaModel model = AdapterFixtures.model(true);
        var set = trainedVera(model, EnumSet.of(Target.Q, Target.V));
        var e = assertThrows(IllegalArgumentException.class,
                () -> PeftAdapter.write(tmp.resolve("no"), set, model.config(), "tiny"));
        assertTrue(e.getMessage().contains("cannot be written for PEFT"), e.getMessage());
    }
}

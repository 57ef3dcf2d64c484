package dev.jlora.loaders.adapter;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.VeraAdapter;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.loaders.TensorNames;
import dev.jlora.loaders.io.AtomicFile;
import dev.jlora.loaders.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;

/**
 * VeRA adapters as PEFT saves them ({@code VeraConfig}, {@code peft_type} "VERA"): per adapted module
 * {@code base_model.model.<module>.vera_lambda_b} [OC] and {@code .vera_lambda_d} [r], and the shared frozen
 * projections {@code base_model.vera_A} [r × maxIn] and {@code base_model.vera_B} [maxOut × r], of which each layer
 * uses the leading [r × IC] and [OC × r] blocks: ΔW = (λ_b ⊙ B[:OC]) · (λ_d ⊙ A[:, :IC]) (PEFT
 * {@code vera/layer.py get_delta_weight}; key names from {@code get_peft_model_state_dict}, which drops the adapter
 * name). The projections are always written ({@code save_projection: true}): PEFT would regenerate them from
 * {@code projection_prng_key} with torch's generator, which jlora's seeded generator does not reproduce.
 *
 * <p>One shared B serves every module, so rows cannot be moved per module: adapters on q_proj/k_proj of a model whose
 * Q/K rows are in llama.cpp's permuted layout (a llama GGUF) cannot be written; they are refused with a message
 * (merge the adapter into the model instead).
 */
final class PeftVera {
    private PeftVera() {}

    static void write(Path dir, TrainableAdapterSet adapters, LlamaConfig cfg, String baseModel) throws IOException {
        var st = new SafetensorsWriter().metadata("format", "pt");
        VeraAdapter first = null;
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : Target.values()) {
                TrainableAdapter a = adapters.get(l, t);
                if (a == null) {
                    continue;
                }
                if (!(a instanceof VeraAdapter v)) {
                    throw new IllegalArgumentException("PEFT has one peft_type per adapter; layer " + l + " "
                            + t.hfName() + " is " + a.method() + ", not vera");
                }
                if (first == null) {
                    first = v;
                } else if (v.projections() != first.projections() || v.dropout() != first.dropout()) {
                    throw new IllegalArgumentException("PEFT VeRA has one pair of projections and one dropout; layer "
                            + l + " " + t.hfName() + " differs from the first adapter");
                }
                if (cfg.ropeInterleaved() && TensorNames.isRotary(t)) {
                    throw new IllegalArgumentException("VeRA on " + t.hfName() + " of a model with llama.cpp's "
                            + "permuted Q/K rows cannot be written for PEFT: its one shared B cannot be permuted per "
                            + "module; target other modules, load the model from Hugging Face files, or merge it");
                }
                String module = "base_model.model." + PeftAdapter.module(l, t);
                st.add(module + ".vera_lambda_b", new long[] {v.outFeatures()}, v.lambdaB().value());
                st.add(module + ".vera_lambda_d", new long[] {v.lambdaD().size()}, v.lambdaD().value());
            }
        }
        if (first == null) {
            throw new IllegalArgumentException("adapter set is empty: nothing to export");
        }
        VeraAdapter.Projections p = first.projections();
        st.add("base_model.vera_A", new long[] {p.rank(), p.maxIn()}, p.a());
        st.add("base_model.vera_B", new long[] {p.maxOut(), p.rank()}, p.b());
        var conf = new LinkedHashMap<String, Object>();
        conf.put("base_model_name_or_path", baseModel);
        conf.put("bias", "none");
        conf.put("d_initial", (double) first.dInitial());
        conf.put("fan_in_fan_out", false);
        conf.put("inference_mode", true);
        conf.put("init_weights", true);
        conf.put("layers_pattern", null);
        conf.put("layers_to_transform", null);
        conf.put("modules_to_save", null);
        conf.put("peft_type", "VERA");
        conf.put("projection_prng_key", p.seed());
        conf.put("r", (long) p.rank());
        conf.put("revision", null);
        conf.put("save_projection", true);
        conf.put("target_modules", PeftAdapter.targetModules(adapters));
        conf.put("task_type", "CAUSAL_LM");
        conf.put("vera_dropout", (double) first.dropout());
        Files.createDirectories(dir);
        st.write(dir.resolve(PeftAdapter.WEIGHTS));
        AtomicFile.writeString(dir.resolve(PeftAdapter.CONFIG), Json.writePretty(conf) + "\n");
    }
}

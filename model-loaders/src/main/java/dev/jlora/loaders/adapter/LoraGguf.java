package dev.jlora.loaders.adapter;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.TensorNames;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.gguf.GgufTensorInfo;
import dev.jlora.loaders.gguf.GgufWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * llama.cpp LoRA adapters in GGUF, as {@code convert_lora_to_gguf.py} writes them and {@code llama-adapter.cpp}
 * ({@code llama_adapter_lora_init}) reads them: {@code general.type = "adapter"}, {@code adapter.type = "lora"},
 * {@code adapter.lora.alpha} (F32), {@code general.architecture} equal to the base model's, and per adapted weight
 * {@code blk.N.attn_q.weight.lora_a} with ggml ne = [IC, r] (A [r × IC] as stored) and {@code .lora_b} with
 * ne = [r, OC] (B [OC × r]). llama.cpp checks {@code a.ne[0] == W.ne[0]}, {@code b.ne[1] == W.ne[1]},
 * {@code a.ne[1] == b.ne[0]} and scales by alpha / r with r = {@code b.ne[0]} (alpha = 0 means scale 1).
 *
 * <p>Tensors are in the GGUF row basis of the architecture: for "llama" B's Q/K rows are llama.cpp-permuted, as in
 * a GGUF base (so nothing moves for a GGUF base; a Hugging Face base's adapter is permuted). rsLoRA is written as
 * alpha·√r, which gives the same scale; the exact jlora hyperparameters are kept in {@code jlora.lora.*} keys,
 * which llama.cpp ignores.
 */
public final class LoraGguf {
    static final String KEY_ALPHA = "adapter.lora.alpha";
    static final String KEY_JLORA_ALPHA = "jlora.lora.alpha";
    static final String KEY_JLORA_RS = "jlora.lora.rs_lora";
    static final String KEY_JLORA_DROPOUT = "jlora.lora.dropout";
    private static final Pattern NAME = Pattern.compile("^blk\\.(\\d+)\\.([a-z_]+)\\.weight\\.lora_(a|b)$");

    private LoraGguf() {}

    /** Writes {@code adapters} (plain LoRA / rsLoRA) of a model shaped {@code cfg}, atomically. */
    public static void write(Path file, TrainableAdapterSet adapters, LlamaConfig cfg) throws IOException {
        var w = new GgufWriter();
        w.putString("general.architecture", cfg.architecture());
        w.putString("general.type", "adapter");
        w.putString("general.name", "jlora LoRA adapter");
        w.putString("adapter.type", "lora");
        boolean permuted = LoraLayout.ggufPermutes(cfg.architecture());
        Float llamaAlpha = null;
        LoraAdapter first = null;
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : Target.values()) {
                TrainableAdapter ta = adapters.get(l, t);
                if (ta == null) {
                    continue;
                }
                LoraAdapter a = LoraLayout.lora(ta, "LoRA GGUF");
                int r = a.rank();
                // llama.cpp scales by alpha / r; rsLoRA's alpha / √r equals (alpha·√r) / r
                float alpha = LoraLayout.alpha(a);
                float la = LoraLayout.rsLora(a) ? (float) (alpha * Math.sqrt(r)) : alpha;
                if (first == null) {
                    first = a;
                    llamaAlpha = la;
                } else if (la != llamaAlpha || LoraLayout.rsLora(a) != LoraLayout.rsLora(first)
                        || LoraLayout.alpha(a) != LoraLayout.alpha(first)) {
                    throw new UnsupportedOperationException("a LoRA GGUF has one adapter.lora.alpha; layer " + l + " "
                            + t.hfName() + " would need alpha " + la + " but the first module has " + llamaAlpha);
                }
                String base = TensorNames.gguf(t, l);
                float[] b = LoraLayout.moveRows(a.loraB().value(), t, cfg, r, cfg.ropeInterleaved(), permuted);
                w.addTensor(base + ".lora_a", new long[] {a.inFeatures(), r}, a.loraA().value());
                w.addTensor(base + ".lora_b", new long[] {r, a.outFeatures()}, b);
            }
        }
        if (first == null) {
            throw new IllegalArgumentException("adapter set is empty: nothing to export");
        }
        w.putFloat32(KEY_ALPHA, llamaAlpha);
        w.putFloat32(KEY_JLORA_ALPHA, LoraLayout.alpha(first));
        w.putBool(KEY_JLORA_RS, LoraLayout.rsLora(first));
        w.putFloat32(KEY_JLORA_DROPOUT, LoraLayout.dropout(first));
        w.write(file);
    }

    /** Whether {@code f} is a GGUF adapter (general.type = "adapter"). */
    public static boolean isAdapter(GgufFile f) throws ModelFormatException {
        return "adapter".equals(f.getString("general.type", ""));
    }

    /** Reads a LoRA GGUF for {@code model}; Q/K rows are moved into the model's basis. */
    public static TrainableAdapterSet read(Path file, LlamaModel model, Consumer<String> warn) throws IOException {
        LlamaConfig cfg = model.config();
        try (GgufFile f = GgufReader.open(file)) {
            String type = f.getString("general.type", "<missing>");
            if (!type.equals("adapter")) {
                throw ModelFormatException.field(file, "general.type", "expected \"adapter\", found \"%s\"", type);
            }
            String at = f.getString("adapter.type", "<missing>");
            if (!at.equals("lora")) {
                throw ModelFormatException.field(file, "adapter.type", "expected \"lora\", found \"%s\"", at);
            }
            String arch = f.getString("general.architecture");
            if (!arch.equals(cfg.architecture())) {
                throw ModelFormatException.field(file, "general.architecture",
                        "adapter is for \"%s\" but the model is \"%s\"", arch, cfg.architecture());
            }
            float llamaAlpha = f.getFloat(KEY_ALPHA);
            boolean jlora = f.has(KEY_JLORA_ALPHA) && f.has(KEY_JLORA_RS);
            boolean rs = jlora && f.getBoolean(KEY_JLORA_RS);
            float dropout = f.getFloat(KEY_JLORA_DROPOUT, 0f);
            boolean permuted = LoraLayout.ggufPermutes(arch);
            var as = new HashMap<String, GgufTensorInfo>();
            var bs = new HashMap<String, GgufTensorInfo>();
            var targetOf = new HashMap<String, Target>();
            var layerOf = new HashMap<String, Integer>();
            Set<Target> targets = EnumSet.noneOf(Target.class);
            for (GgufTensorInfo ti : f.tensors()) {
                Matcher m = NAME.matcher(ti.name());
                Target t = m.matches() ? ggufTarget(m.group(2)) : null;
                if (t == null) {
                    throw ModelFormatException.tensor(file, ti.name(), "is not a LoRA tensor of a Llama block "
                            + "(expected blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight"
                            + ".lora_a|lora_b); adapters on token_embd/output are not supported");
                }
                int layer = Integer.parseInt(m.group(1));
                if (layer >= cfg.nLayers()) {
                    throw ModelFormatException.tensor(file, ti.name(), "is for layer %d but the model has %d layers",
                            layer, cfg.nLayers());
                }
                String k = LoraLayout.key(layer, t);
                targetOf.put(k, t);
                layerOf.put(k, layer);
                targets.add(t);
                if ((m.group(3).equals("a") ? as : bs).put(k, ti) != null) {
                    throw ModelFormatException.tensor(file, ti.name(), "appears twice");
                }
            }
            var modules = new HashMap<String, LoraLayout.Module>();
            for (String k : targetOf.keySet()) {
                GgufTensorInfo ta = as.get(k), tb = bs.get(k);
                if (ta == null || tb == null) {
                    GgufTensorInfo have = ta == null ? tb : ta;
                    throw ModelFormatException.tensor(file, have.name(), "has no matching lora_%s tensor",
                            ta == null ? "a" : "b");
                }
                Target t = targetOf.get(k);
                int[] oi = LoraLayout.shape(cfg, t);
                int OC = oi[0], IC = oi[1];
                long[] na = ta.shape(), nb = tb.shape();
                if (na.length != 2 || na[0] != IC || na[1] <= 0 || na[1] > 65536) {
                    throw ModelFormatException.tensor(file, ta.name(), "has ne %s, expected [%d, r] (IC = %d of %s)",
                            Arrays.toString(na), IC, IC, t.ggufName());
                }
                int r = (int) na[1];
                if (nb.length != 2 || nb[0] != r || nb[1] != OC) {
                    throw ModelFormatException.tensor(file, tb.name(), "has ne %s, expected [%d, %d] (r from %s, OC of %s)",
                            Arrays.toString(nb), r, OC, ta.name(), t.ggufName());
                }
                float[] a = floats(f, ta, r, IC);
                float[] b = LoraLayout.moveRows(floats(f, tb, OC, r), t, cfg, r, permuted, cfg.ropeInterleaved());
                float alpha;
                if (jlora) {
                    alpha = f.getFloat(KEY_JLORA_ALPHA);
                } else {
                    alpha = llamaAlpha == 0 ? r : llamaAlpha; // llama.cpp: alpha 0 means scale 1
                }
                modules.put(k, new LoraLayout.Module(layerOf.get(k), t, r, a, b, alpha));
            }
            if (modules.isEmpty()) {
                throw ModelFormatException.of(file, "holds no LoRA tensors");
            }
            LoraLayout.Module any = modules.values().iterator().next();
            return LoraLayout.build(file, model.weights(), cfg, modules, targets, rs, dropout, any.rank(), any.alpha(), warn);
        }
    }

    /**
     * A [rows × cols] tensor as fp32: F32/F16/BF16 directly, ggml block formats (convert_lora_to_gguf.py
     * {@code --outtype q8_0}) dequantized with jlora's bit-exact kernels.
     */
    private static float[] floats(GgufFile f, GgufTensorInfo t, int rows, int cols) throws ModelFormatException {
        switch (t.type()) {
            case F32, F16, BF16 -> {
                return f.readFloats(t.name());
            }
            default -> {
                if (!t.type().isBlockFormat() || cols % t.type().blockSize() != 0) {
                    throw ModelFormatException.tensor(f.path(), t.name(), "is %s with rows of %d; expected F32, F16, "
                            + "BF16 or a ggml block format whose block size divides the row", t.type(), cols);
                }
                var m = t.type().wrap(f.tensorData(t), rows, cols);
                float[] out = new float[rows * cols];
                for (int i = 0; i < rows; i++) {
                    m.dequantizeRow(i, out, i * cols);
                }
                return out;
            }
        }
    }

    private static Target ggufTarget(String name) {
        for (Target t : Target.values()) {
            if (t.ggufName().equals(name)) {
                return t;
            }
        }
        return null;
    }

    /** For tests and tools: the per-module A/B of a LoRA GGUF by tensor name, as stored. */
    static Map<String, float[]> rawTensors(Path file) throws IOException {
        var out = new HashMap<String, float[]>();
        try (GgufFile f = GgufReader.open(file)) {
            for (GgufTensorInfo t : f.tensors()) {
                out.put(t.name(), f.readFloats(t.name()));
            }
        }
        return out;
    }
}

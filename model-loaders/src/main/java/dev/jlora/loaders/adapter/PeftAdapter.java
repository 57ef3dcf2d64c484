package dev.jlora.loaders.adapter;

import dev.jlora.engine.adapter.DoraAdapter;
import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.TensorNames;
import dev.jlora.loaders.io.AtomicFile;
import dev.jlora.loaders.safetensors.SafetensorsFile;
import dev.jlora.loaders.safetensors.SafetensorsReader;
import dev.jlora.loaders.safetensors.SafetensorsTensor;
import dev.jlora.loaders.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Hugging Face PEFT LoRA adapters: a directory with {@code adapter_config.json} and {@code adapter_model.safetensors}.
 *
 * <p>Written as PEFT 0.x saves a {@code LoraConfig} for a causal LM: tensors
 * {@code base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight} [r × IC] and {@code …lora_B.weight}
 * [OC × r] (F32), in the Hugging Face row basis (Q/K rows of a GGUF base are un-permuted, see {@link LoraLayout}).
 *
 * <p>Read tolerantly: PEFT keys with or without the adapter name ({@code lora_A.default.weight}) and with any
 * prefix before {@code layers.N} (Unsloth and older PEFT), F16/BF16/F32 tensors, {@code rank_pattern} and
 * {@code alpha_pattern}; MLX-LM adapters ({@code adapters.safetensors}, keys {@code model.layers.N.self_attn.q_proj.lora_a}
 * [IC × r] and {@code lora_b} [r × OC], i.e. transposed, scale from {@code lora_parameters.scale}). Unknown config
 * fields only warn. Errors name the file, the key and what was expected.
 */
public final class PeftAdapter {
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";
    static final String MLX_WEIGHTS = "adapters.safetensors";

    /** Fields of PEFT's LoraConfig (0.4 … 0.17) that we understand or can safely ignore. */
    private static final Set<String> KNOWN_FIELDS = Set.of("peft_type", "r", "lora_alpha", "lora_dropout",
            "target_modules", "use_rslora", "bias", "task_type", "base_model_name_or_path", "fan_in_fan_out",
            "inference_mode", "init_lora_weights", "layers_pattern", "layers_to_transform", "modules_to_save",
            "rank_pattern", "alpha_pattern", "revision", "auto_mapping", "use_dora", "megatron_config",
            "megatron_core", "loftq_config", "layer_replication", "exclude_modules", "lora_bias", "use_qalora",
            "qalora_group_size", "eva_config", "corda_config", "trainable_token_indices", "target_parameters",
            "runtime_config", "peft_version", "enable_lora");

    private static final Pattern KEY = Pattern.compile(
            "^(?:.*\\.)?layers\\.(\\d+)\\.(?:self_attn\\.|mlp\\.)?([a-z_]+)\\.(lora_A|lora_B|lora_a|lora_b|lora_magnitude_vector)"
                    + "(?:\\.[A-Za-z0-9_-]+)?(?:\\.weight)?$");

    private PeftAdapter() {}

    /** Whether {@code dir} looks like a PEFT or MLX adapter directory. */
    public static boolean isAdapterDir(Path dir) {
        return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve(CONFIG));
    }

    /**
     * Writes {@code adapters} (LoRA / rsLoRA / DoRA; VeRA through {@link PeftVera}) of a model shaped {@code cfg} as a
     * PEFT directory.
     * {@code baseModel} goes into {@code base_model_name_or_path}. Each file is written atomically; the weights
     * first, so a directory with a config always has its weights.
     */
    public static void write(Path dir, TrainableAdapterSet adapters, LlamaConfig cfg, String baseModel) throws IOException {
        if (adapters.adapters().isEmpty()) {
            throw new IllegalArgumentException("adapter set is empty: nothing to export");
        }
        if (adapters.adapters().getFirst() instanceof dev.jlora.engine.adapter.VeraAdapter) {
            PeftVera.write(dir, adapters, cfg, baseModel);
            return;
        }
        var st = new SafetensorsWriter().metadata("format", "pt");
        TrainableAdapter first = null;
        var rankPattern = new TreeMap<String, Object>();
        var alphaPattern = new TreeMap<String, Object>();
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : Target.values()) {
                TrainableAdapter a = adapters.get(l, t);
                if (a == null) {
                    continue;
                }
                float[] av, bv, mv = null;
                if (a instanceof DoraAdapter d) {
                    av = d.loraA().value();
                    bv = d.loraB().value();
                    mv = d.magnitude().value();
                } else {
                    LoraAdapter lora = LoraLayout.lora(a, "PEFT");
                    av = lora.loraA().value();
                    bv = lora.loraB().value();
                }
                if (first == null) {
                    first = a;
                } else if (LoraLayout.rsLora(a) != LoraLayout.rsLora(first) || !a.method().equals(first.method())) {
                    throw new IllegalArgumentException("PEFT has one use_rslora and one use_dora for all modules; layer "
                            + l + " " + t.hfName() + " (" + a.method() + ") differs from the first adapter ("
                            + first.method() + ")");
                }
                String module = module(l, t);
                int r = LoraLayout.rank(a);
                if (r != LoraLayout.rank(first)) {
                    rankPattern.put(module, (long) r);
                }
                if (LoraLayout.alpha(a) != LoraLayout.alpha(first)) {
                    alphaPattern.put(module, number(LoraLayout.alpha(a)));
                }
                float[] b = LoraLayout.moveRows(bv, t, cfg, r, cfg.ropeInterleaved(), false);
                st.add("base_model.model." + module + ".lora_A.weight", new long[] {r, a.inFeatures()}, av);
                st.add("base_model.model." + module + ".lora_B.weight", new long[] {a.outFeatures(), r}, b);
                if (mv != null) {
                    // DoRA's m is per output row, so Q/K rows move like B's (cols = 1)
                    st.add("base_model.model." + module + ".lora_magnitude_vector", new long[] {a.outFeatures()},
                            LoraLayout.moveRows(mv, t, cfg, 1, cfg.ropeInterleaved(), false));
                }
            }
        }
        var conf = new LinkedHashMap<String, Object>();
        conf.put("alpha_pattern", alphaPattern);
        conf.put("auto_mapping", null);
        conf.put("base_model_name_or_path", baseModel);
        conf.put("bias", "none");
        conf.put("fan_in_fan_out", false);
        conf.put("inference_mode", true);
        conf.put("init_lora_weights", true);
        conf.put("layers_pattern", null);
        conf.put("layers_to_transform", null);
        conf.put("lora_alpha", number(LoraLayout.alpha(first)));
        conf.put("lora_dropout", (double) LoraLayout.dropout(first));
        conf.put("modules_to_save", null);
        conf.put("peft_type", "LORA");
        conf.put("r", (long) LoraLayout.rank(first));
        conf.put("rank_pattern", rankPattern);
        conf.put("revision", null);
        conf.put("target_modules", targetModules(adapters));
        conf.put("task_type", "CAUSAL_LM");
        conf.put("use_dora", first instanceof DoraAdapter);
        conf.put("use_rslora", LoraLayout.rsLora(first));
        Files.createDirectories(dir);
        st.write(dir.resolve(WEIGHTS));
        AtomicFile.writeString(dir.resolve(CONFIG), Json.writePretty(conf) + "\n");
    }

    /**
     * The module names PEFT should adapt: the short names ({@code q_proj}) when every layer has an adapter on them,
     * otherwise every adapted module by its full name, as PEFT's EVA writes it after giving some layers rank 0 (a short
     * name would make PEFT add adapters to the layers that have none).
     */
    static List<String> targetModules(TrainableAdapterSet adapters) {
        var full = new ArrayList<String>();
        boolean complete = true;
        for (int l = 0; l < adapters.layerCount(); l++) {
            for (Target t : adapters.targets()) {
                if (adapters.get(l, t) == null) {
                    complete = false;
                } else {
                    full.add(module(l, t));
                }
            }
        }
        return complete ? adapters.targets().stream().sorted().map(Target::hfName).toList() : full;
    }

    /** {@code model.layers.N.self_attn.q_proj} / {@code model.layers.N.mlp.gate_proj}. */
    static String module(int layer, Target t) {
        return TensorNames.hfModule(t, layer);
    }

    /** lora_alpha as PEFT writes it: an integer when it is one. */
    private static Object number(float v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? (Object) (long) v : (Object) (double) v;
    }

    /**
     * Reads a PEFT (or MLX-LM) LoRA directory for {@code model}; Q/K rows are moved into the model's basis.
     * Warnings (unknown config fields, modules without tensors) go to {@code warn}.
     */
    public static TrainableAdapterSet read(Path dir, LlamaModel model, Consumer<String> warn) throws IOException {
        Path configFile = dir.resolve(CONFIG);
        if (!Files.isRegularFile(configFile)) {
            throw ModelFormatException.of(dir, "is not an adapter directory: %s is missing", CONFIG);
        }
        Map<String, Object> conf = Json.readObject(configFile);
        boolean mlx = !conf.containsKey("peft_type") && (conf.containsKey("lora_parameters")
                || conf.containsKey("fine_tune_type"));
        Path weights = dir.resolve(mlx ? MLX_WEIGHTS : WEIGHTS);
        if (!Files.isRegularFile(weights)) {
            Path alt = dir.resolve(mlx ? WEIGHTS : MLX_WEIGHTS);
            if (Files.isRegularFile(alt)) {
                weights = alt;
            } else if (Files.isRegularFile(dir.resolve("adapter_model.bin"))) {
                throw ModelFormatException.of(dir, "has adapter_model.bin (a pickle); jlora reads only %s: save it "
                        + "with PEFT's save_pretrained(safe_serialization=True)", WEIGHTS);
            } else {
                throw ModelFormatException.of(dir, "has %s but no %s", CONFIG, weights.getFileName());
            }
        }
        Settings s = mlx ? mlxSettings(configFile, conf, warn) : peftSettings(configFile, conf, warn);
        LlamaConfig cfg = model.config();
        var modules = new HashMap<String, LoraLayout.Module>();
        Set<Target> targets = EnumSet.noneOf(Target.class);
        try (SafetensorsFile f = SafetensorsReader.open(weights)) {
            var as = new HashMap<String, SafetensorsTensor>();
            var bs = new HashMap<String, SafetensorsTensor>();
            var ms = new HashMap<String, SafetensorsTensor>();
            for (SafetensorsTensor t : f.tensors().values()) {
                Matcher m = KEY.matcher(t.name());
                Target target = m.matches() ? target(m.group(2)) : null;
                if (target == null) {
                    throw ModelFormatException.tensor(weights, t.name(), "is not a LoRA tensor of a Llama block "
                            + "(expected …layers.N.self_attn|mlp.{q,k,v,o,gate,up,down}_proj.lora_A|lora_B[.weight]); "
                            + "adapters on embeddings, the head or with bias/DoRA tensors are not supported");
                }
                int layer = Integer.parseInt(m.group(1));
                if (layer >= cfg.nLayers()) {
                    throw ModelFormatException.tensor(weights, t.name(), "is for layer %d but the model has %d layers",
                            layer, cfg.nLayers());
                }
                String k = LoraLayout.key(layer, target);
                var into = m.group(3).equals("lora_magnitude_vector") ? ms : m.group(3).equalsIgnoreCase("lora_a") ? as : bs;
                if (into == ms && !s.dora()) {
                    throw ModelFormatException.tensor(weights, t.name(), "is a DoRA magnitude but %s has no use_dora=true",
                            CONFIG);
                }
                if (into.put(k, t) != null) {
                    throw ModelFormatException.tensor(weights, t.name(), "duplicates another tensor of layer %d %s",
                            layer, target.hfName());
                }
                targets.add(target);
            }
            for (var e : as.entrySet()) {
                SafetensorsTensor ta = e.getValue(), tb = bs.get(e.getKey());
                if (tb == null) {
                    throw ModelFormatException.tensor(weights, ta.name(), "has no matching lora_B tensor");
                }
                SafetensorsTensor tm = ms.get(e.getKey());
                if (s.dora() && tm == null) {
                    throw ModelFormatException.tensor(weights, ta.name(), "has no lora_magnitude_vector (use_dora=true)");
                }
                modules.put(e.getKey(), module(weights, ta, tb, tm, cfg, s));
            }
            for (var e : ms.entrySet()) {
                if (!as.containsKey(e.getKey())) {
                    throw ModelFormatException.tensor(weights, e.getValue().name(), "has no matching lora_A tensor");
                }
            }
            for (var e : bs.entrySet()) {
                if (!as.containsKey(e.getKey())) {
                    throw ModelFormatException.tensor(weights, e.getValue().name(), "has no matching lora_A tensor");
                }
            }
        }
        for (String tm : s.targetModules()) {
            Target t = knownTarget(tm);
            if (t != null && !targets.contains(t)) {
                throw ModelFormatException.field(configFile, "target_modules",
                        "target module '%s' matches no tensor in %s", tm, weights.getFileName());
            }
        }
        if (targets.isEmpty()) {
            throw ModelFormatException.of(weights, "holds no LoRA tensors");
        }
        return LoraLayout.build(weights, model.weights(), cfg, modules, targets, s.rsLora(), s.dropout(), s.rank(),
                s.alpha(), s.dora(), warn);
    }

    /** The hyperparameters the reader needs, from either config dialect. */
    private record Settings(int rank, float alpha, float dropout, boolean rsLora, boolean dora, boolean transposed,
                            Float mlxScale, Map<String, Object> rankPattern, Map<String, Object> alphaPattern,
                            List<String> targetModules) {}

    private static LoraLayout.Module module(Path file, SafetensorsTensor ta, SafetensorsTensor tb, SafetensorsTensor tm,
                                            LlamaConfig cfg, Settings s) throws ModelFormatException {
        Matcher m = KEY.matcher(ta.name());
        m.matches();
        int layer = Integer.parseInt(m.group(1));
        Target t = target(m.group(2));
        int[] oi = LoraLayout.shape(cfg, t);
        int OC = oi[0], IC = oi[1];
        long[] sa = ta.shape(), sb = tb.shape();
        if (sa.length != 2 || sb.length != 2) {
            throw ModelFormatException.tensor(file, ta.name(), "LoRA tensors must be 2-D, got %s and %s",
                    Arrays.toString(sa), Arrays.toString(sb));
        }
        // PEFT: A [r × IC], B [OC × r]; MLX: lora_a [IC × r], lora_b [r × OC] (x·a·b)
        long r = s.transposed() ? sa[1] : sa[0];
        long[] wantA = s.transposed() ? new long[] {IC, r} : new long[] {r, IC};
        long[] wantB = s.transposed() ? new long[] {r, OC} : new long[] {OC, r};
        if (r <= 0 || r > Math.min(OC, IC) * 16L || !Arrays.equals(sa, wantA)) {
            throw ModelFormatException.tensor(file, ta.name(), "has shape %s, expected %s for %s (IC=%d)",
                    Arrays.toString(sa), s.transposed() ? "[IC, r]" : "[r, IC]", t.hfName(), IC);
        }
        if (!Arrays.equals(sb, wantB)) {
            throw ModelFormatException.tensor(file, tb.name(), "has shape %s, expected %s (OC=%d, r=%d from %s)",
                    Arrays.toString(sb), Arrays.toString(wantB), OC, r, ta.name());
        }
        int rank = (int) r;
        float[] a = SafetensorsFile.readFloats(ta);
        float[] b = SafetensorsFile.readFloats(tb);
        if (s.transposed()) {
            a = transpose(a, IC, rank);
            b = transpose(b, rank, OC);
        }
        String moduleName = module(layer, t);
        Integer patternRank = (Integer) pattern(s.rankPattern(), moduleName, file, "rank_pattern", true);
        if (patternRank != null && patternRank != rank) {
            throw ModelFormatException.tensor(file, ta.name(), "has rank %d but rank_pattern gives %d", rank, patternRank);
        }
        if (patternRank == null && !s.transposed() && rank != s.rank() && s.rankPattern().isEmpty()) {
            throw ModelFormatException.tensor(file, ta.name(), "has rank %d but adapter_config.json has r=%d and no "
                    + "rank_pattern", rank, s.rank());
        }
        float alpha;
        if (s.mlxScale() != null) {
            // MLX-LM: y = x·Wᵀ + scale·(x·a)·b, so scale = alpha / r with alpha = scale·r
            alpha = s.mlxScale() * rank;
        } else {
            Float pa = (Float) pattern(s.alphaPattern(), moduleName, file, "alpha_pattern", false);
            alpha = pa != null ? pa : s.alpha();
        }
        float[] bModel = LoraLayout.moveRows(b, t, cfg, rank, false, cfg.ropeInterleaved());
        float[] mag = null;
        if (tm != null) {
            long[] sm = tm.shape();
            if (!(sm.length == 1 && sm[0] == OC) && !(sm.length == 2 && sm[0] == OC && sm[1] == 1)
                    && !(sm.length == 2 && sm[0] == 1 && sm[1] == OC)) {
                throw ModelFormatException.tensor(file, tm.name(), "has shape %s, expected [%d] (OC of %s)",
                        Arrays.toString(sm), OC, t.hfName());
            }
            mag = LoraLayout.moveRows(SafetensorsFile.readFloats(tm), t, cfg, 1, false, cfg.ropeInterleaved());
        }
        return new LoraLayout.Module(layer, t, rank, a, bModel, alpha, mag);
    }

    /** PEFT's pattern lookup: key matches module name {@code m} when {@code m} matches {@code (.*\.)?key$}. */
    private static Object pattern(Map<String, Object> patterns, String module, Path file, String field, boolean integer)
            throws ModelFormatException {
        for (var e : patterns.entrySet()) {
            boolean hit;
            try {
                hit = Pattern.compile("(.*\\.)?(" + e.getKey() + ")$").matcher(module).matches();
            } catch (java.util.regex.PatternSyntaxException ex) {
                throw ModelFormatException.field(file, field + "." + e.getKey(), "is not a valid pattern: %s", ex.getMessage());
            }
            if (hit) {
                if (!(e.getValue() instanceof Number n)) {
                    throw ModelFormatException.field(file, field + "." + e.getKey(), "expected a number, found %s",
                            Json.typeName(e.getValue()));
                }
                return integer ? (Object) n.intValue() : (Object) n.floatValue();
            }
        }
        return null;
    }

    private static float[] transpose(float[] x, int rows, int cols) {
        float[] out = new float[x.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                out[j * rows + i] = x[i * cols + j];
            }
        }
        return out;
    }

    private static Target target(String hfName) {
        for (Target t : Target.values()) {
            if (t.hfName().equals(hfName)) {
                return t;
            }
        }
        return null;
    }

    private static Target knownTarget(String name) {
        String n = name.contains(".") ? name.substring(name.lastIndexOf('.') + 1) : name;
        return target(n);
    }

    private static Settings peftSettings(Path file, Map<String, Object> c, Consumer<String> warn)
            throws ModelFormatException {
        for (String k : c.keySet()) {
            if (!KNOWN_FIELDS.contains(k)) {
                warn.accept(file.getFileName() + ": unknown field '" + k + "' ignored");
            }
        }
        String type = str(file, c, "peft_type", "LORA");
        if (!type.equals("LORA")) {
            throw ModelFormatException.field(file, "peft_type", "expected \"LORA\", found \"%s\" (jlora reads PEFT "
                    + "LoRA and DoRA adapters; it writes VeRA in PEFT's format but reads VeRA back only from .jlora)", type);
        }
        String bias = str(file, c, "bias", "none");
        if (!bias.equals("none")) {
            throw new UnsupportedOperationException(file.getFileName() + ": bias \"" + bias
                    + "\" is not supported (LoRA bias tensors); expected \"none\"");
        }
        if (bool(file, c, "fan_in_fan_out", false)) {
            throw ModelFormatException.field(file, "fan_in_fan_out", "is true (Conv1D layout, GPT-2); Llama "
                    + "adapters store A as [r, IC], expected false");
        }
        if (c.get("modules_to_save") instanceof List<?> l && !l.isEmpty()) {
            throw new UnsupportedOperationException(file.getFileName() + ": modules_to_save " + l
                    + " (fully trained modules) are not supported");
        }
        if (c.get("layers_to_transform") != null) {
            warn.accept(file.getFileName() + ": layers_to_transform " + c.get("layers_to_transform")
                    + ": layers without tensors get ΔW = 0");
        }
        int r = (int) num(file, c, "r", 8);
        float alpha = (float) num(file, c, "lora_alpha", 8);
        float dropout = (float) num(file, c, "lora_dropout", 0);
        if (r <= 0) {
            throw ModelFormatException.field(file, "r", "must be positive, found %d", r);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw ModelFormatException.field(file, "lora_dropout", "must be in [0, 1), found %s", dropout);
        }
        List<String> targets = new ArrayList<>();
        Object tm = c.get("target_modules");
        if (tm instanceof List<?> l) {
            for (Object o : l) {
                if (!(o instanceof String s)) {
                    throw ModelFormatException.field(file, "target_modules", "expected strings, found %s", Json.typeName(o));
                }
                targets.add(s);
            }
        } else if (tm != null && !(tm instanceof String)) {
            throw ModelFormatException.field(file, "target_modules", "expected a list or a string, found %s",
                    Json.typeName(tm));
        }
        return new Settings(r, alpha, dropout, bool(file, c, "use_rslora", false), bool(file, c, "use_dora", false), false, null,
                map(file, c, "rank_pattern"), map(file, c, "alpha_pattern"), targets);
    }

    /** MLX-LM's adapter_config.json: {@code lora_parameters {rank, scale | alpha, dropout, keys}}. */
    private static Settings mlxSettings(Path file, Map<String, Object> c, Consumer<String> warn)
            throws ModelFormatException {
        String ft = str(file, c, "fine_tune_type", "lora");
        if (!ft.equals("lora")) {
            throw new UnsupportedOperationException(file.getFileName() + ": MLX fine_tune_type \"" + ft
                    + "\" is not supported; expected \"lora\"");
        }
        if (!(c.get("lora_parameters") instanceof Map<?, ?> raw)) {
            throw ModelFormatException.field(file, "lora_parameters", "expected an object, found %s",
                    Json.typeName(c.get("lora_parameters")));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> p = (Map<String, Object>) raw;
        int r = (int) num(file, p, "rank", 8);
        Float scale;
        if (p.containsKey("scale")) {
            scale = (float) num(file, p, "scale", 20);
        } else if (p.containsKey("alpha")) {
            scale = (float) num(file, p, "alpha", r) / r;
        } else {
            scale = 20f;
            warn.accept(file.getFileName() + ": lora_parameters has no scale; using MLX-LM's default 20");
        }
        float dropout = (float) num(file, p, "dropout", 0);
        return new Settings(r, scale * r, dropout, false, false, true, scale, Map.of(), Map.of(), List.of());
    }

    private static String str(Path file, Map<String, Object> c, String k, String def) throws ModelFormatException {
        Object v = c.get(k);
        if (v == null) {
            return def;
        }
        if (!(v instanceof String s)) {
            throw ModelFormatException.field(file, k, "expected a string, found %s", Json.typeName(v));
        }
        return s;
    }

    private static boolean bool(Path file, Map<String, Object> c, String k, boolean def) throws ModelFormatException {
        Object v = c.get(k);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Boolean b)) {
            throw ModelFormatException.field(file, k, "expected true or false, found %s", Json.typeName(v));
        }
        return b;
    }

    private static double num(Path file, Map<String, Object> c, String k, double def) throws ModelFormatException {
        Object v = c.get(k);
        if (v == null) {
            return def;
        }
        if (!(v instanceof Number n)) {
            throw ModelFormatException.field(file, k, "expected a number, found %s", Json.typeName(v));
        }
        return n.doubleValue();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Path file, Map<String, Object> c, String k) throws ModelFormatException {
        Object v = c.get(k);
        if (v == null) {
            return Map.of();
        }
        if (!(v instanceof Map<?, ?> m)) {
            throw ModelFormatException.field(file, k, "expected an object, found %s", Json.typeName(v));
        }
        return (Map<String, Object>) m;
    }
}

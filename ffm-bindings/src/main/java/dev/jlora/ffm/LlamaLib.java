package dev.jlora.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * libllama (llama.cpp v0.5.0, the CPU build of the npm package {@code @node-llama-cpp/linux-x64@3.22.1}) through
 * FFM, as the reference oracle for jlora's forward: load a GGUF, tokenize, decode a batch, read logits.
 *
 * <p>The struct layouts below follow {@code include/llama.h} of that exact release (the {@code gitRelease.bundle} of
 * {@code node-llama-cpp@3.22.1}); gcc reported sizeof 80 / 160 / 56 and the field offsets that
 * {@code LlamaLibLayoutTest} pins. {@link #load} also reads back the defaults llama.cpp fills in, so a library whose
 * structs differ from these layouts is refused instead of being called with garbage.
 *
 * <p>Libraries are loaded once per JVM into the global arena (ggml cannot be unloaded). Models and contexts are
 * {@link AutoCloseable}; nothing outside this class sees a {@link MethodHandle} or a raw pointer.
 */
@SuppressWarnings("restricted")
public final class LlamaLib {
    private static final System.Logger LOG = System.getLogger(LlamaLib.class.getName());

    /** File names in the npm package's {@code bins/linux-x64}, in dependency order. */
    static final String[] LIBRARIES = {"libggml-base.so", "libggml.v0.5.0.so", "libllama.v0.5.0.so"};

    /** struct llama_model_params (llama.h v0.5.0): sizeof 80. */
    static final StructLayout MODEL_PARAMS = MemoryLayout.structLayout(
            ADDRESS.withName("devices"),
            ADDRESS.withName("tensor_buft_overrides"),
            JAVA_INT.withName("n_gpu_layers"),
            JAVA_INT.withName("split_mode"),
            JAVA_INT.withName("load_mode"),
            JAVA_INT.withName("lazy_mode"),
            JAVA_INT.withName("main_gpu"),
            MemoryLayout.paddingLayout(4),
            ADDRESS.withName("tensor_split"),
            ADDRESS.withName("progress_callback"),
            ADDRESS.withName("progress_callback_user_data"),
            ADDRESS.withName("kv_overrides"),
            JAVA_BOOLEAN.withName("vocab_only"),
            JAVA_BOOLEAN.withName("check_tensors"),
            JAVA_BOOLEAN.withName("use_extra_bufts"),
            JAVA_BOOLEAN.withName("no_host"),
            JAVA_BOOLEAN.withName("no_alloc"),
            JAVA_BOOLEAN.withName("load_mtp"),
            MemoryLayout.paddingLayout(2)).withName("llama_model_params");

    /** struct llama_context_params (llama.h v0.5.0): sizeof 160. */
    static final StructLayout CONTEXT_PARAMS = MemoryLayout.structLayout(
            JAVA_INT.withName("n_ctx"),
            JAVA_INT.withName("n_batch"),
            JAVA_INT.withName("n_ubatch"),
            JAVA_INT.withName("n_seq_max"),
            JAVA_INT.withName("n_rs_seq"),
            JAVA_INT.withName("n_outputs_max"),
            JAVA_INT.withName("n_outputs_max_per_seq"),
            JAVA_INT.withName("n_threads"),
            JAVA_INT.withName("n_threads_batch"),
            JAVA_INT.withName("ctx_type"),
            JAVA_INT.withName("rope_scaling_type"),
            JAVA_INT.withName("pooling_type"),
            JAVA_INT.withName("attention_type"),
            JAVA_INT.withName("flash_attn_type"),
            JAVA_FLOAT.withName("rope_freq_base"),
            JAVA_FLOAT.withName("rope_freq_scale"),
            JAVA_FLOAT.withName("yarn_ext_factor"),
            JAVA_FLOAT.withName("yarn_attn_factor"),
            JAVA_FLOAT.withName("yarn_beta_fast"),
            JAVA_FLOAT.withName("yarn_beta_slow"),
            JAVA_INT.withName("yarn_orig_ctx"),
            JAVA_FLOAT.withName("defrag_thold"),
            ADDRESS.withName("cb_eval"),
            ADDRESS.withName("cb_eval_user_data"),
            JAVA_INT.withName("type_k"),
            JAVA_INT.withName("type_v"),
            ADDRESS.withName("abort_callback"),
            ADDRESS.withName("abort_callback_data"),
            JAVA_BOOLEAN.withName("embeddings"),
            JAVA_BOOLEAN.withName("offload_kqv"),
            JAVA_BOOLEAN.withName("no_perf"),
            JAVA_BOOLEAN.withName("op_offload"),
            JAVA_BOOLEAN.withName("swa_full"),
            JAVA_BOOLEAN.withName("kv_unified"),
            MemoryLayout.paddingLayout(2),
            ADDRESS.withName("samplers"),
            JAVA_LONG.withName("n_samplers"),
            ADDRESS.withName("ctx_other")).withName("llama_context_params");

    /** struct llama_batch (llama.h v0.5.0): sizeof 56. */
    static final StructLayout BATCH = MemoryLayout.structLayout(
            JAVA_INT.withName("n_tokens"),
            MemoryLayout.paddingLayout(4),
            ADDRESS.withName("token"),
            ADDRESS.withName("embd"),
            ADDRESS.withName("pos"),
            ADDRESS.withName("n_seq_id"),
            ADDRESS.withName("seq_id"),
            ADDRESS.withName("logits")).withName("llama_batch");

    /** ggml_type ids used here (ggml.h). */
    static final int GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1;
    /** enum llama_flash_attn_type. */
    static final int FLASH_ATTN_AUTO = -1, FLASH_ATTN_DISABLED = 0;
    /** enum ggml_log_level: ERROR. */
    static final int LOG_LEVEL_ERROR = 4;

    private static LlamaLib instance;
    private static Path instanceDir;

    private final Path dir;
    private final MethodHandle modelDefaultParams, modelLoad, modelFree, contextDefaultParams, initFromModel, free,
            modelGetVocab, vocabNTokens, tokenize, decode, getLogitsIth, getMemory, memoryClear, memorySeqRm;
    private final MethodHandle adapterLoraInit, adapterLoraFree, setAdaptersLora;

    private LlamaLib(Path dir, SymbolLookup llama) {
        this.dir = dir;
        var L = Linker.nativeLinker();
        modelDefaultParams = L.downcallHandle(find(llama, "llama_model_default_params"), FunctionDescriptor.of(MODEL_PARAMS));
        modelLoad = L.downcallHandle(find(llama, "llama_model_load_from_file"), FunctionDescriptor.of(ADDRESS, ADDRESS, MODEL_PARAMS));
        modelFree = L.downcallHandle(find(llama, "llama_model_free"), FunctionDescriptor.ofVoid(ADDRESS));
        contextDefaultParams = L.downcallHandle(find(llama, "llama_context_default_params"), FunctionDescriptor.of(CONTEXT_PARAMS));
        initFromModel = L.downcallHandle(find(llama, "llama_init_from_model"), FunctionDescriptor.of(ADDRESS, ADDRESS, CONTEXT_PARAMS));
        free = L.downcallHandle(find(llama, "llama_free"), FunctionDescriptor.ofVoid(ADDRESS));
        modelGetVocab = L.downcallHandle(find(llama, "llama_model_get_vocab"), FunctionDescriptor.of(ADDRESS, ADDRESS));
        vocabNTokens = L.downcallHandle(find(llama, "llama_vocab_n_tokens"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        tokenize = L.downcallHandle(find(llama, "llama_tokenize"), FunctionDescriptor.of(JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_BOOLEAN, JAVA_BOOLEAN));
        decode = L.downcallHandle(find(llama, "llama_decode"), FunctionDescriptor.of(JAVA_INT, ADDRESS, BATCH));
        getLogitsIth = L.downcallHandle(find(llama, "llama_get_logits_ith"), FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
        getMemory = L.downcallHandle(find(llama, "llama_get_memory"), FunctionDescriptor.of(ADDRESS, ADDRESS));
        memoryClear = L.downcallHandle(find(llama, "llama_memory_clear"), FunctionDescriptor.ofVoid(ADDRESS, JAVA_BOOLEAN));
        memorySeqRm = L.downcallHandle(find(llama, "llama_memory_seq_rm"),
                FunctionDescriptor.of(JAVA_BOOLEAN, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT));
        // LoRA adapters (llama.h v0.5.0: llama_adapter_lora_init, llama_adapter_lora_free, llama_set_adapters_lora)
        adapterLoraInit = L.downcallHandle(find(llama, "llama_adapter_lora_init"), FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS));
        adapterLoraFree = L.downcallHandle(find(llama, "llama_adapter_lora_free"), FunctionDescriptor.ofVoid(ADDRESS));
        setAdaptersLora = L.downcallHandle(find(llama, "llama_set_adapters_lora"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalStateException(
                "libllama has no symbol '" + name + "': not the v0.5.0 library these bindings are written for"));
    }

    /**
     * Where {@code scripts/fetch-llama-natives.sh} puts the libraries: {@code -Djlora.llama.natives=DIR} if set (the build sets it for tests), else
     * {@code .cache/llama-native/linux-x64} under {@code -Djlora.home} or the nearest directory up from the working
     * directory that has one.
     */
    public static Path defaultDirectory() {
        String p = System.getProperty("jlora.llama.natives");
        if (p != null && !p.isBlank()) {
            return Path.of(p);
        }
        Path rel = Path.of(".cache", "llama-native", "linux-x64");
        String home = System.getProperty("jlora.home");
        if (home != null && Files.isDirectory(Path.of(home).resolve(rel))) {
            return Path.of(home).resolve(rel);
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve(rel))) {
                return d.resolve(rel);
            }
        }
        return Path.of("").toAbsolutePath().resolve(rel);
    }

    /**
     * Loads the libraries from {@code dir}, calls {@code ggml_backend_load_all_from_path(dir)} (the CPU backends are
     * separate libraries) and checks the struct layouts against llama.cpp's defaults. Empty, with the reason
     * logged, when the files are missing or do not load.
     */
    public static synchronized Optional<LlamaLib> load(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        if (instance != null) {
            if (!instanceDir.equals(abs)) {
                LOG.log(System.Logger.Level.WARNING, "libllama already loaded from " + instanceDir + "; ignoring " + abs);
            }
            return Optional.of(instance);
        }
        for (String name : LIBRARIES) {
            if (!Files.isRegularFile(abs.resolve(name))) {
                LOG.log(System.Logger.Level.INFO, "llama.cpp reference not available: " + abs.resolve(name)
                        + " not found (run scripts/fetch-llama-natives.sh)");
                return Optional.empty();
            }
        }
        try {
            Arena global = Arena.global();
            SymbolLookup base = SymbolLookup.libraryLookup(abs.resolve(LIBRARIES[0]), global);
            SymbolLookup ggml = SymbolLookup.libraryLookup(abs.resolve(LIBRARIES[1]), global);
            SymbolLookup llama = SymbolLookup.libraryLookup(abs.resolve(LIBRARIES[2]), global);
            var L = Linker.nativeLinker();
            MethodHandle logSet = L.downcallHandle(find(base, "ggml_log_set"), FunctionDescriptor.ofVoid(ADDRESS, ADDRESS));
            MethodHandle llamaLogSet = L.downcallHandle(find(llama, "llama_log_set"), FunctionDescriptor.ofVoid(ADDRESS, ADDRESS));
            MemorySegment callback = L.upcallStub(MethodHandles.lookup().findStatic(LlamaLib.class, "onLog",
                            MethodType.methodType(void.class, int.class, MemorySegment.class, MemorySegment.class)),
                    FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, ADDRESS), global);
            logSet.invokeExact(callback, MemorySegment.NULL);
            llamaLogSet.invokeExact(callback, MemorySegment.NULL);
            MethodHandle loadAll = L.downcallHandle(find(ggml, "ggml_backend_load_all_from_path"),
                    FunctionDescriptor.ofVoid(ADDRESS));
            MethodHandle backendInit = L.downcallHandle(find(llama, "llama_backend_init"), FunctionDescriptor.ofVoid());
            try (Arena a = Arena.ofConfined()) {
                loadAll.invokeExact(a.allocateFrom(abs.toString()));
            }
            backendInit.invokeExact();
            var lib = new LlamaLib(abs, llama);
            lib.checkDefaults();
            instance = lib;
            instanceDir = abs;
            return Optional.of(lib);
        } catch (IllegalArgumentException | IllegalStateException e) {
            LOG.log(System.Logger.Level.WARNING, "llama.cpp reference not usable from " + abs + ": " + e.getMessage());
            return Optional.empty();
        } catch (Throwable t) {
            throw new IllegalStateException("loading libllama from " + abs + " failed", t);
        }
    }

    /** ggml/llama log lines: errors go to the logger, the rest (model loading chatter) is dropped. */
    @SuppressWarnings("unused")
    private static void onLog(int level, MemorySegment text, MemorySegment user) {
        if (level == LOG_LEVEL_ERROR && !text.equals(MemorySegment.NULL)) {
            LOG.log(System.Logger.Level.ERROR, "llama.cpp: " + text.reinterpret(1 << 16).getString(0).strip());
        }
    }

    /** Reads back llama.cpp's documented defaults; a mismatch means our layouts do not fit this library. */
    private void checkDefaults() throws Throwable {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mp = (MemorySegment) modelDefaultParams.invokeExact((java.lang.foreign.SegmentAllocator) a);
            MemorySegment cp = (MemorySegment) contextDefaultParams.invokeExact((java.lang.foreign.SegmentAllocator) a);
            int nGpu = mp.get(JAVA_INT, off(MODEL_PARAMS, "n_gpu_layers"));
            boolean extra = mp.get(JAVA_BOOLEAN, off(MODEL_PARAMS, "use_extra_bufts"));
            int nCtx = cp.get(JAVA_INT, off(CONTEXT_PARAMS, "n_ctx"));
            int nBatch = cp.get(JAVA_INT, off(CONTEXT_PARAMS, "n_batch"));
            float yarnExt = cp.get(JAVA_FLOAT, off(CONTEXT_PARAMS, "yarn_ext_factor"));
            int typeK = cp.get(JAVA_INT, off(CONTEXT_PARAMS, "type_k"));
            int typeV = cp.get(JAVA_INT, off(CONTEXT_PARAMS, "type_v"));
            int fa = cp.get(JAVA_INT, off(CONTEXT_PARAMS, "flash_attn_type"));
            boolean offload = cp.get(JAVA_BOOLEAN, off(CONTEXT_PARAMS, "offload_kqv"));
            if (nGpu != -1 || !extra || nCtx != 512 || nBatch != 2048 || yarnExt != -1f || typeK != GGML_TYPE_F16
                    || typeV != GGML_TYPE_F16 || fa != FLASH_ATTN_AUTO || !offload) {
                throw new IllegalStateException(String.format(
                        "struct layouts do not match this libllama: defaults read back as n_gpu_layers=%d use_extra_bufts=%b "
                                + "n_ctx=%d n_batch=%d yarn_ext_factor=%s type_k=%d type_v=%d flash_attn_type=%d offload_kqv=%b; "
                                + "expected -1 true 512 2048 -1.0 1 1 -1 true (llama.cpp v0.5.0)",
                        nGpu, extra, nCtx, nBatch, yarnExt, typeK, typeV, fa, offload));
            }
        }
    }

    static long off(StructLayout layout, String field) {
        return layout.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    /** The directory the libraries came from. */
    public Path directory() {
        return dir;
    }

    /** Loads a GGUF model for the CPU, with llama.cpp's default weight layouts (see {@link #loadModel(Path, boolean)}). */
    public Model loadModel(Path gguf) throws IOException {
        return loadModel(gguf, false, true);
    }

    /**
     * Loads a GGUF model for the CPU. With {@code cpuRepack} (llama.cpp's default, {@code use_extra_bufts}) the CPU
     * backend may copy weights into its extra buffer types at load: on x86 with AVX2 it interleaves Q4_0 (and Q4_K,
     * IQ4_NL) rows eight at a time for its int8 dot-product GEMV. Without it every weight is used as stored in the file.
     */
    public Model loadModel(Path gguf, boolean cpuRepack) throws IOException {
        return loadModel(gguf, false, cpuRepack);
    }

    /**
     * Loads only the vocabulary of a GGUF ({@code llama_model_params.vocab_only}): enough for {@link Model#tokenize},
     * and it works on the vocab-only fixtures that have no weights; {@link Model#newContext} refuses such a model.
     */
    public Model loadVocabOnly(Path gguf) throws IOException {
        return loadModel(gguf, true, true);
    }

    private Model loadModel(Path gguf, boolean vocabOnly, boolean extraBuffers) throws IOException {
        if (!Files.isRegularFile(gguf)) {
            throw new java.nio.file.NoSuchFileException(gguf.toString());
        }
        String what = "llama_model_load_from_file(" + gguf + (vocabOnly ? ", vocab_only" : "") + ")";
        try (Arena a = Arena.ofConfined()) {
            MemorySegment params = (MemorySegment) modelDefaultParams.invokeExact((java.lang.foreign.SegmentAllocator) a);
            params.set(JAVA_BOOLEAN, off(MODEL_PARAMS, "vocab_only"), vocabOnly);
            params.set(JAVA_BOOLEAN, off(MODEL_PARAMS, "use_extra_bufts"), extraBuffers);
            MemorySegment m = (MemorySegment) modelLoad.invokeExact(a.allocateFrom(gguf.toAbsolutePath().toString()), params);
            if (m.equals(MemorySegment.NULL)) {
                throw new IOException(what + " returned NULL (see the log above)");
            }
            return new Model(m, gguf, vocabOnly);
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(what + " failed", t);
        }
    }

    /** A loaded llama.cpp model. */
    public final class Model implements AutoCloseable {
        private MemorySegment ptr;
        private final MemorySegment vocab;
        private final Path path;
        private final boolean vocabOnly;

        private Model(MemorySegment ptr, Path path, boolean vocabOnly) throws Throwable {
            this.ptr = ptr;
            this.path = path;
            this.vocabOnly = vocabOnly;
            this.vocab = (MemorySegment) modelGetVocab.invokeExact(ptr);
        }

        public int vocabSize() {
            try {
                return (int) vocabNTokens.invokeExact(vocab);
            } catch (Throwable t) {
                throw new IllegalStateException("llama_vocab_n_tokens failed", t);
            }
        }

        /** llama_tokenize: token ids of {@code text} with the model's vocabulary. */
        public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
            live();
            byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment t = a.allocate(utf8.length + 1L);
                MemorySegment.copy(utf8, 0, t, JAVA_BYTE, 0, utf8.length);
                int cap = utf8.length + 8;
                MemorySegment out = a.allocate(JAVA_INT, cap);
                int n = (int) tokenize.invokeExact(vocab, t, utf8.length, out, cap, addSpecial, parseSpecial);
                if (n < 0) {
                    throw new IllegalStateException("llama_tokenize needs " + (-n) + " slots, had " + cap);
                }
                return out.asSlice(0, 4L * n).toArray(JAVA_INT);
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException("llama_tokenize failed", e);
            }
        }

        /**
         * A context with an fp32 KV cache and flash attention off (llama.cpp's most exact CPU path).
         *
         * @param nCtx    positions
         * @param threads CPU threads for decode and batches
         */
        public Context newContext(int nCtx, int threads) {
            return newContext(nCtx, threads, false);
        }

        /**
         * {@link #newContext(int, int)} with the KV cache in fp16 when {@code f16Kv} (llama.cpp's default type; its
         * attention then also rounds the query and the softmax weights to fp16 for the products).
         */
        public Context newContext(int nCtx, int threads, boolean f16Kv) {
            live();
            if (vocabOnly) {
                throw new IllegalStateException("model " + path + " was loaded vocab-only (loadVocabOnly): it has no "
                        + "weights to decode with; load it with loadModel");
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment cp = (MemorySegment) contextDefaultParams.invokeExact((java.lang.foreign.SegmentAllocator) a);
                cp.set(JAVA_INT, off(CONTEXT_PARAMS, "n_ctx"), nCtx);
                cp.set(JAVA_INT, off(CONTEXT_PARAMS, "n_batch"), nCtx);
                cp.set(JAVA_INT, off(CONTEXT_PARAMS, "n_ubatch"), nCtx);
                cp.set(JAVA_INT, off(CONTEXT_PARAMS, "n_outputs_max_per_seq"), 0);
                cp.set(JAVA_INT, off(CONTEXT_PARAMS, "n_threads"), threads);
                cp.set(JAVA_INT, off(CONTEXT_PARAMS, "n_threads_batch"), threads);
                cp.set(JAVA_INT, off(CONTEXT_PARAMS, "flash_attn_type"), FLASH_ATTN_DISABLED);
                int kvType = f16Kv ? GGML_TYPE_F16 : GGML_TYPE_F32;
                cp.set(JAVA_INT, off(CONTEXT_PARAMS, "type_k"), kvType);
                cp.set(JAVA_INT, off(CONTEXT_PARAMS, "type_v"), kvType);
                MemorySegment c = (MemorySegment) initFromModel.invokeExact(ptr, cp);
                if (c.equals(MemorySegment.NULL)) {
                    throw new IllegalStateException("llama_init_from_model(n_ctx=" + nCtx + ", " + (f16Kv ? "F16" : "F32")
                            + " KV, flash attention off) returned NULL");
                }
                return new Context(c, nCtx, vocabSize());
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("llama_init_from_model failed", t);
            }
        }

        private void live() {
            if (ptr == null) {
                throw new IllegalStateException("model " + path + " is closed");
            }
        }

        /** llama_adapter_lora_init: a LoRA GGUF for this model (valid until it or the model is closed). */
        public Adapter loadLoraAdapter(Path gguf) throws IOException {
            live();
            if (!Files.isRegularFile(gguf)) {
                throw new java.nio.file.NoSuchFileException(gguf.toString());
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment ad = (MemorySegment) adapterLoraInit.invokeExact(ptr,
                        a.allocateFrom(gguf.toAbsolutePath().toString()));
                if (ad.equals(MemorySegment.NULL)) {
                    throw new IOException("llama_adapter_lora_init(" + path.getFileName() + ", " + gguf
                            + ") returned NULL (see the log above)");
                }
                var adapter = new Adapter(ad, gguf, this);
                adapters.add(adapter);
                return adapter;
            } catch (IOException | RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("llama_adapter_lora_init(" + gguf + ") failed", t);
            }
        }

        private final java.util.List<Adapter> adapters = new java.util.ArrayList<>();

        @Override
        public void close() {
            if (ptr != null) {
                for (Adapter ad : adapters) {
                    ad.ptr = null; // llama_model_free frees the model's adapters
                }
                try {
                    modelFree.invokeExact(ptr);
                } catch (Throwable t) {
                    throw new IllegalStateException("llama_model_free failed", t);
                }
                ptr = null;
            }
        }
    }

    /** A LoRA adapter loaded by llama.cpp for one {@link Model}. */
    public final class Adapter implements AutoCloseable {
        private MemorySegment ptr;
        private final Path path;
        private final Model model;

        private Adapter(MemorySegment ptr, Path path, Model model) {
            this.ptr = ptr;
            this.path = path;
            this.model = model;
        }

        private MemorySegment live() {
            if (ptr == null) {
                throw new IllegalStateException("LoRA adapter " + path + " is closed (or its model is)");
            }
            return ptr;
        }

        /** llama_adapter_lora_free (detaches it from the model). */
        @Override
        public void close() {
            if (ptr != null) {
                try {
                    adapterLoraFree.invokeExact(ptr);
                } catch (Throwable t) {
                    throw new IllegalStateException("llama_adapter_lora_free(" + path + ") failed", t);
                }
                ptr = null;
                model.adapters.remove(this);
            }
        }
    }

    /** A llama.cpp context: one sequence (id 0) with its KV cache. Not thread-safe. */
    public final class Context implements AutoCloseable {
        private MemorySegment ptr;
        private final int nCtx, vocabSize;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment batch, tokens, pos, nSeqId, seqIds, seqZero, logits;

        private Context(MemorySegment ptr, int nCtx, int vocabSize) {
            this.ptr = ptr;
            this.nCtx = nCtx;
            this.vocabSize = vocabSize;
            batch = arena.allocate(BATCH);
            tokens = arena.allocate(JAVA_INT, nCtx);
            pos = arena.allocate(JAVA_INT, nCtx);
            nSeqId = arena.allocate(JAVA_INT, nCtx);
            seqIds = arena.allocate(ADDRESS, nCtx);
            seqZero = arena.allocate(JAVA_INT);          // every token belongs to sequence 0
            logits = arena.allocate(JAVA_BYTE, nCtx);
            for (int i = 0; i < nCtx; i++) {
                nSeqId.setAtIndex(JAVA_INT, i, 1);
                seqIds.setAtIndex(ADDRESS, i, seqZero);
            }
            batch.set(ADDRESS, off(BATCH, "token"), tokens);
            batch.set(ADDRESS, off(BATCH, "embd"), MemorySegment.NULL);
            batch.set(ADDRESS, off(BATCH, "pos"), pos);
            batch.set(ADDRESS, off(BATCH, "n_seq_id"), nSeqId);
            batch.set(ADDRESS, off(BATCH, "seq_id"), seqIds);
            batch.set(ADDRESS, off(BATCH, "logits"), logits);
        }

        public int vocabSize() {
            return vocabSize;
        }

        /**
         * llama_decode of {@code ids} at positions {@code startPos ..}; returns the logits of every token ([n × V])
         * when {@code allLogits}, else of the last one ([V]).
         */
        public float[] decode(int[] ids, int startPos, boolean allLogits) {
            if (ptr == null) {
                throw new IllegalStateException("context is closed");
            }
            int n = ids.length;
            if (n == 0 || startPos < 0 || startPos + n > nCtx) {
                throw new IllegalArgumentException("decode of " + n + " tokens at position " + startPos
                        + " does not fit the context of " + nCtx);
            }
            for (int i = 0; i < n; i++) {
                tokens.setAtIndex(JAVA_INT, i, ids[i]);
                pos.setAtIndex(JAVA_INT, i, startPos + i);
                logits.set(JAVA_BYTE, i, (byte) (allLogits || i == n - 1 ? 1 : 0));
            }
            batch.set(JAVA_INT, off(BATCH, "n_tokens"), n);
            try {
                int rc = (int) decode.invokeExact(ptr, batch);
                if (rc != 0) {
                    throw new IllegalStateException("llama_decode(" + n + " tokens at position " + startPos + ") returned " + rc);
                }
                int rows = allLogits ? n : 1;
                float[] out = new float[rows * vocabSize];
                for (int r = 0; r < rows; r++) {
                    int i = allLogits ? r : n - 1;
                    MemorySegment l = (MemorySegment) getLogitsIth.invokeExact(ptr, i);
                    if (l.equals(MemorySegment.NULL)) {
                        throw new IllegalStateException("llama_get_logits_ith(" + i + ") returned NULL");
                    }
                    MemorySegment.copy(l.reinterpret(4L * vocabSize), JAVA_FLOAT, 0, out, r * vocabSize, vocabSize);
                }
                return out;
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("llama_decode failed", t);
            }
        }

        /**
         * llama_set_adapters_lora: the LoRA adapters applied from the next decode on, each with its user scale
         * (1 applies alpha / r as the file says); no adapters removes them.
         */
        public void setLoraAdapters(java.util.List<Adapter> adapters, float[] scales) {
            if (ptr == null) {
                throw new IllegalStateException("context is closed");
            }
            if (scales.length != adapters.size()) {
                throw new IllegalArgumentException(adapters.size() + " adapters but " + scales.length + " scales");
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment arr = a.allocate(ADDRESS, Math.max(1, adapters.size()));
                for (int i = 0; i < adapters.size(); i++) {
                    arr.setAtIndex(ADDRESS, i, adapters.get(i).live());
                }
                MemorySegment sc = a.allocate(JAVA_FLOAT, Math.max(1, scales.length));
                MemorySegment.copy(scales, 0, sc, JAVA_FLOAT, 0, scales.length);
                MemorySegment arrArg = adapters.isEmpty() ? MemorySegment.NULL : arr;
                MemorySegment scArg = adapters.isEmpty() ? MemorySegment.NULL : sc;
                int rc = (int) setAdaptersLora.invokeExact(ptr, arrArg, (long) adapters.size(), scArg);
                if (rc != 0) {
                    throw new IllegalStateException("llama_set_adapters_lora(" + adapters.size() + " adapters) returned " + rc);
                }
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("llama_set_adapters_lora failed", t);
            }
        }

        /** Empties the KV cache (llama_memory_clear). */
        public void clear() {
            try {
                MemorySegment mem = (MemorySegment) getMemory.invokeExact(ptr);
                memoryClear.invokeExact(mem, true);
            } catch (Throwable t) {
                throw new IllegalStateException("llama_memory_clear failed", t);
            }
        }

        /** Drops positions {@code from..} of sequence 0 (llama_memory_seq_rm). */
        public void truncate(int from) {
            try {
                MemorySegment mem = (MemorySegment) getMemory.invokeExact(ptr);
                boolean ok = (boolean) memorySeqRm.invokeExact(mem, 0, from, -1);
                if (!ok) {
                    throw new IllegalStateException("llama_memory_seq_rm(seq 0, from " + from + ") refused");
                }
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("llama_memory_seq_rm failed", t);
            }
        }

        @Override
        public void close() {
            if (ptr != null) {
                try {
                    free.invokeExact(ptr);
                } catch (Throwable t) {
                    throw new IllegalStateException("llama_free failed", t);
                }
                ptr = null;
                arena.close();
            }
        }
    }
}

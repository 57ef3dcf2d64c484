package dev.jlora.engine.train;

import dev.jlora.engine.adapter.Parameter;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.Batch;
import dev.jlora.engine.data.BatchSampler;
import dev.jlora.engine.data.Dataset;
import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.optim.AdamW;
import dev.jlora.engine.optim.GradientClipping;
import dev.jlora.engine.optim.LrSchedule;
import dev.jlora.engine.optim.Optimizer;
import dev.jlora.engine.optim.SgdMomentum;
import dev.jlora.simd.ScalarOps;
import dev.jlora.simd.VectorOps;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The training loop: batches from a {@link Dataset}, forward/backward on a {@link LlamaTrainGraph}, gradient
 * clipping, an {@link Optimizer} step on the adapter parameters, evaluation, metrics and checkpoints.
 *
 * <p>Reproducible: the data order and every dropout mask derive from {@code seed} and the step number only, so a
 * run resumed from a checkpoint (adapter values, optimizer state, data position, step) gives the losses of an
 * uninterrupted run — bit for bit with {@link TrainConfig#bitReproducible()} (scalar kernels, and frozen weights
 * whose kernels are order-stable), to the last few bits otherwise. Results do not depend on the thread count.
 *
 * <p>A step whose loss or gradient norm is NaN or infinite is skipped (no update) and counted. Files written under
 * {@code outDir}: {@code metrics.jsonl} (one JSON object per step and per evaluation, appended),
 * {@code checkpoints/checkpoint-NNNNNN.jlck} (atomic). With {@link #installShutdownHook} a Ctrl-C makes the loop
 * write a checkpoint after the current step and stop.
 */
public final class Trainer {
    private final LlamaModel model;
    private final TrainableAdapterSet adapters;
    private final Dataset data;
    private final TrainConfig cfg;
    private final Path outDir;
    private final LlamaTrainGraph graph;
    private final BatchSampler sampler;
    private final Optimizer optimizer;
    private final LrSchedule schedule;
    private final List<Parameter> params;
    private final List<TrainingHook> hooks;
    private static final String HOOK_PREFIX = "hook.", HOOK_PARAM_PREFIX = "hookparam.";
    private int step;
    private int skipped;
    private int consecutiveSkips;
    private volatile boolean stopRequested;
    private volatile CountDownLatch running;

    /**
     * Thrown by {@link #train} after {@link TrainConfig#maxBadSteps()} consecutive steps had a non-finite loss or
     * gradient. Skipped steps change nothing, so the checkpoint written before throwing holds the last good values.
     */
    public static final class DivergedException extends IllegalStateException {
        DivergedException(String message) {
            super(message);
        }
    }

    /** Outcome of {@link #train}: losses of the steps run by this call, and the last evaluation (NaN if none). */
    public record Result(int step, List<Double> losses, int skippedSteps, double evalLoss, boolean stoppedEarly) {}

    public Trainer(LlamaModel model, TrainableAdapterSet adapters, Dataset data, TrainConfig cfg, Path outDir) {
        this(model, adapters, data, cfg, outDir, List.of());
    }

    /**
     * A trainer whose steps also run {@code hooks} (rank allocation, optimizer-side methods, layer sampling; see
     * {@link TrainingHook}); their own parameters are trained after the adapters'.
     */
    public Trainer(LlamaModel model, TrainableAdapterSet adapters, Dataset data, TrainConfig cfg, Path outDir,
                   List<TrainingHook> hooks) {
        if (data.T() != cfg.seqLen()) {
            throw new IllegalArgumentException("dataset was packed for T=" + data.T() + " but the config says seqLen="
                    + cfg.seqLen());
        }
        this.model = model;
        this.adapters = adapters;
        this.data = data;
        this.cfg = cfg;
        this.outDir = outDir;
        this.graph = new LlamaTrainGraph(model.config(), model.weights(), adapters, cfg.batchSize(), cfg.seqLen(),
                cfg.activationCheckpointing(), cfg.bitReproducible() ? ScalarOps.INSTANCE : VectorOps.get());
        if (cfg.s2AttnGroup() > 0) {
            graph.useSparseAttention(ShiftedSparseAttention.of(cfg.s2AttnGroup()));
        }
        this.sampler = new BatchSampler(data, cfg.batchSize(), cfg.seed());
        this.optimizer = cfg.optimizer().equals("sgd") ? new SgdMomentum(cfg.momentum(), cfg.weightDecay())
                : new AdamW(cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay());
        this.schedule = cfg.lrSchedule();
        this.hooks = List.copyOf(hooks);
        var all = new ArrayList<>(adapters.parameters());
        var names = new java.util.HashSet<String>();
        for (TrainingHook h : this.hooks) {
            if (!names.add(h.name())) {
                throw new IllegalArgumentException("two training hooks are named '" + h.name() + "'");
            }
            all.addAll(h.parameters());
        }
        this.params = List.copyOf(all);
    }

    /** The hooks this trainer runs, in call order. */
    public List<TrainingHook> hooks() {
        return hooks;
    }

    /** Optimizer steps done so far. */
    public int step() {
        return step;
    }

    public TrainableAdapterSet adapters() {
        return adapters;
    }

    /** Asks the loop to checkpoint and return after the current step (thread-safe). */
    public void requestStop() {
        stopRequested = true;
    }

    /**
     * Registers a JVM shutdown hook (Ctrl-C) that stops the loop at the next step boundary, lets it write a final
     * checkpoint and waits up to 60 s for that. Returns the hook so callers can remove it.
     */
    public Thread installShutdownHook() {
        Thread hook = new Thread(() -> {
            CountDownLatch r = running;
            if (r != null) {
                requestStop();
                try {
                    r.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }, "jlora-train-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        return hook;
    }

    /** Runs steps until {@code cfg.steps()} (or a stop request) and writes the final checkpoint. */
    public Result train(TrainListener listener) throws IOException {
        running = new CountDownLatch(1);
        try {
            return loop(listener == null ? new TrainListener() {} : listener);
        } finally {
            running.countDown();
        }
    }

    private Result loop(TrainListener listener) throws IOException {
        Files.createDirectories(outDir);
        var losses = new ArrayList<Double>();
        double evalLoss = Double.NaN;
        long tokensPerStep = (long) cfg.batchSize() * cfg.seqLen() * cfg.gradAccum();
        long started = System.nanoTime();
        int firstStep = step;
        boolean stopped = false;
        try (Writer metrics = Files.newBufferedWriter(outDir.resolve("metrics.jsonl"), StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            while (step < cfg.steps()) {
                if (stopRequested) {
                    stopped = true;
                    break;
                }
                long t0 = System.nanoTime();
                for (TrainingHook h : hooks) {
                    h.beforeStep(step, cfg.steps());
                }
                double loss = trainStep();
                for (TrainingHook h : hooks) {
                    loss += h.afterBackward(step);
                }
                float lr = schedule.lr(step);
                List<Parameter> active = activeParameters();
                double norm = GradientClipping.clip(active, cfg.maxGradNorm());
                boolean skip = !Double.isFinite(loss) || !Double.isFinite(norm);
                if (skip) {
                    skipped++;
                    consecutiveSkips++;
                } else {
                    consecutiveSkips = 0;
                    for (TrainingHook h : hooks) {
                        h.adjustGradients(step, lr, active);
                    }
                    optimizer.step(active, lr, this::lrScale);
                    for (TrainingHook h : hooks) {
                        h.afterStep(step);
                    }
                }
                step++;
                losses.add(loss);
                double secs = (System.nanoTime() - t0) / 1e9;
                double avg = (System.nanoTime() - started) / 1e9 / (step - firstStep);
                var s = new TrainListener.Step(step, cfg.steps(), loss, lr, norm, tokensPerStep / secs,
                        avg * (cfg.steps() - step), skip);
                var values = new LinkedHashMap<String, Object>();
                for (TrainingHook h : hooks) {
                    values.putAll(h.metrics());
                }
                values.putAll(Map.of("loss", finiteOrString(loss), "lr", (double) lr,
                        "grad_norm", finiteOrString(norm), "tokens_per_s", s.tokensPerSecond(), "step_seconds", secs,
                        "skipped", skip));
                writeMetrics(metrics, "train", values);
                listener.onStep(s);
                boolean last = step == cfg.steps();
                if (!data.eval().isEmpty() && cfg.evalEvery() > 0 && (step % cfg.evalEvery() == 0 || last)) {
                    evalLoss = evaluate();
                    writeMetrics(metrics, "eval", Map.of("loss", finiteOrString(evalLoss), "perplexity", finiteOrString(Math.exp(evalLoss))));
                    listener.onEval(step, evalLoss, Math.exp(evalLoss));
                }
                if ((cfg.checkpointEvery() > 0 && step % cfg.checkpointEvery() == 0) && !last) {
                    listener.onCheckpoint(step, saveCheckpoint());
                }
                if (cfg.maxBadSteps() > 0 && consecutiveSkips >= cfg.maxBadSteps()) {
                    metrics.flush();
                    Path ck = saveCheckpoint();
                    listener.onCheckpoint(step, ck);
                    throw new DivergedException(String.format(java.util.Locale.ROOT, "training stopped at step %d: "
                            + "the last %d steps had a non-finite loss or gradient and were skipped; %s keeps the "
                            + "values of step %d (lower the learning rate, check the data, then --resume)",
                            step, consecutiveSkips, ck.getFileName(), step - consecutiveSkips));
                }
            }
        }
        listener.onCheckpoint(step, saveCheckpoint());
        return new Result(step, losses, skipped, evalLoss, stopped);
    }

    /** Forward/backward over gradAccum micro-batches; returns their mean loss. Gradients are left in the params. */
    private double trainStep() {
        for (Parameter p : params) {
            p.zeroGrad();
        }
        double sum = 0;
        float gradScale = 1f / cfg.gradAccum();
        for (int m = 0; m < cfg.gradAccum(); m++) {
            Batch b = sampler.next();
            long dropoutSeed = microStepSeed(cfg.seed(), (long) step * cfg.gradAccum() + m);
            for (TrainingHook h : hooks) {
                h.beforeForward(graph, b.inputs(), true);
            }
            sum += graph.forwardBackward(b.inputs(), b.targets(), dropoutSeed, gradScale).loss();
            for (TrainingHook h : hooks) {
                h.afterMicroBatch(graph, b.inputs(), gradScale);
            }
        }
        return sum / cfg.gradAccum();
    }

    /** The parameters every hook lets take part in this step, in the fixed order. */
    private List<Parameter> activeParameters() {
        if (hooks.isEmpty()) {
            return params;
        }
        var out = new ArrayList<Parameter>(params.size());
        for (Parameter p : params) {
            boolean active = true;
            for (TrainingHook h : hooks) {
                active &= h.isActive(p);
            }
            if (active) {
                out.add(p);
            }
        }
        return out;
    }

    private double lrScale(Parameter p) {
        double scale = 1;
        for (TrainingHook h : hooks) {
            scale *= h.lrScale(p);
        }
        return scale;
    }

    /** SplitMix64 finaliser of seed + (k+1)·golden ratio: the dropout seed of micro-batch k of the run. */
    static long microStepSeed(long seed, long k) {
        long z = seed + (k + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Mean loss over the held-out rows (at most maxEvalBatches batches), weighted by their target counts. */
    public double evaluate() {
        double sum = 0;
        long n = 0;
        var batches = data.evalBatches(cfg.batchSize());
        for (int i = 0; i < Math.min(batches.size(), cfg.maxEvalBatches()); i++) {
            Batch b = batches.get(i);
            for (TrainingHook h : hooks) {
                h.beforeForward(graph, b.inputs(), false);
            }
            var l = graph.loss(b.inputs(), b.targets());
            sum += l.loss() * l.tokens();
            n += l.tokens();
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    private void writeMetrics(Writer w, String kind, Map<String, Object> values) throws IOException {
        var m = new LinkedHashMap<String, Object>();
        m.put("kind", kind);
        m.put("step", (long) step);
        m.putAll(new java.util.TreeMap<>(values));
        w.write(Json.write(m));
        w.write('\n');
        w.flush();
    }

    private static Object finiteOrString(double v) {
        return Double.isFinite(v) ? (Object) v : Double.toString(v);
    }

    // ---------------------------------------------------------------------------------------------------------
    // checkpoints

    /** Writes checkpoints/checkpoint-NNNNNN.jlck atomically, prunes old ones, and returns its path. */
    public Path saveCheckpoint() throws IOException {
        Path dir = outDir.resolve("checkpoints");
        Path file = dir.resolve(String.format("checkpoint-%06d.jlck", step));
        var meta = new LinkedHashMap<String, String>();
        meta.put("format", "jlora-checkpoint");
        meta.put("version", "1");
        meta.put("step", Integer.toString(step));
        meta.put("skipped", Integer.toString(skipped));
        meta.put("optimizer", cfg.optimizer());
        meta.put("optimizer_steps", Long.toString(optimizer.stepCount()));
        meta.put("seed", Long.toString(cfg.seed()));
        // Random state: dropout masks and data order are pure functions of (seed, step, position), so the seed
        // and these counters are the whole RNG state.
        meta.put("data_epoch", Long.toString(sampler.position().epoch()));
        meta.put("data_index", Integer.toString(sampler.position().index()));
        meta.put("batch_size", Integer.toString(cfg.batchSize()));
        meta.put("seq_len", Integer.toString(cfg.seqLen()));
        meta.put("grad_accum", Integer.toString(cfg.gradAccum()));
        meta.put("data_rows", Integer.toString(data.train().size()));
        meta.put("total_steps", Integer.toString(cfg.steps()));
        var tensors = new LinkedHashMap<String, float[]>();
        var shapes = new LinkedHashMap<String, int[]>();
        for (var e : adapters.state().entrySet()) {
            tensors.put("adapter." + e.getKey(), e.getValue());
        }
        for (var e : adapters.shapes().entrySet()) {
            shapes.put("adapter." + e.getKey(), e.getValue());
        }
        for (var e : optimizer.state().entrySet()) {
            tensors.put("optim." + e.getKey(), e.getValue());
        }
        for (TrainingHook h : hooks) {
            for (var e : h.meta().entrySet()) {
                meta.put(HOOK_PREFIX + h.name() + "." + e.getKey(), e.getValue());
            }
            for (var e : h.state().entrySet()) {
                tensors.put(HOOK_PREFIX + h.name() + "." + e.getKey(), e.getValue());
            }
            for (Parameter p : h.parameters()) {
                tensors.put(HOOK_PARAM_PREFIX + h.name() + "." + p.name(), p.value());
                shapes.put(HOOK_PARAM_PREFIX + h.name() + "." + p.name(), p.shape());
            }
        }
        TensorArchive.write(file, meta, tensors, shapes);
        prune(dir);
        return file;
    }

    private void prune(Path dir) throws IOException {
        List<Path> all = checkpoints(dir);
        for (int i = 0; i < all.size() - cfg.keepCheckpoints(); i++) {
            Files.deleteIfExists(all.get(i));
        }
    }

    private static List<Path> checkpoints(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d{6,}\\.jlck")).sorted().toList();
        }
    }

    /** The newest checkpoint under {@code outDir}/checkpoints, or null. */
    public static Path latestCheckpoint(Path outDir) throws IOException {
        List<Path> all = checkpoints(outDir.resolve("checkpoints"));
        return all.isEmpty() ? null : all.getLast();
    }

    /**
     * Restores adapter values, optimizer state, data position and step from a checkpoint written by a run with the
     * same model, adapter layout, data (same number of packed rows), seed, batch size, gradient accumulation and
     * sequence length; any of those differing is an error naming the field. The total step count may differ (to
     * extend a run); the learning-rate schedule then follows the new total.
     */
    public void resume(Path checkpoint) throws IOException {
        var c = TensorArchive.read(checkpoint);
        var meta = c.meta();
        if (!"jlora-checkpoint".equals(meta.get("format"))) {
            throw ModelFormatException.field(checkpoint, "meta.format", "expected \"jlora-checkpoint\", found %s", meta.get("format"));
        }
        expect(checkpoint, meta, "optimizer", cfg.optimizer());
        expect(checkpoint, meta, "seed", Long.toString(cfg.seed()));
        expect(checkpoint, meta, "batch_size", Integer.toString(cfg.batchSize()));
        expect(checkpoint, meta, "seq_len", Integer.toString(cfg.seqLen()));
        expect(checkpoint, meta, "grad_accum", Integer.toString(cfg.gradAccum()));
        expect(checkpoint, meta, "data_rows", Integer.toString(data.train().size()));
        var adapterState = new LinkedHashMap<String, float[]>();
        var optimState = new LinkedHashMap<String, float[]>();
        var hookTensors = new LinkedHashMap<String, float[]>();
        for (var e : c.tensors().entrySet()) {
            if (e.getKey().startsWith("adapter.")) {
                adapterState.put(e.getKey().substring("adapter.".length()), e.getValue());
            } else if (e.getKey().startsWith("optim.")) {
                optimState.put(e.getKey().substring("optim.".length()), e.getValue());
            } else if (e.getKey().startsWith(HOOK_PREFIX) || e.getKey().startsWith(HOOK_PARAM_PREFIX)) {
                hookTensors.put(e.getKey(), e.getValue());
            } else {
                throw ModelFormatException.tensor(checkpoint, e.getKey(),
                        "unexpected tensor (expected adapter.*, optim.*, hook.* or hookparam.*)");
            }
        }
        try {
            adapters.load(adapterState);
            for (TrainingHook h : hooks) {
                loadHook(h, hookTensors, meta);
            }
            optimizer.load(optimState, Long.parseLong(meta.get("optimizer_steps")));
            step = Integer.parseInt(meta.get("step"));
            skipped = Integer.parseInt(meta.get("skipped"));
            sampler.seek(new BatchSampler.Position(Long.parseLong(meta.get("data_epoch")),
                    Integer.parseInt(meta.get("data_index"))));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new ModelFormatException(checkpoint.getFileName() + ": cannot resume: " + e.getMessage(), e);
        }
        trimMetrics(step);
        deleteStaleTemps(outDir.resolve("checkpoints"));
    }

    /**
     * Removes the temp files of checkpoint writes that a killed run left behind (TensorArchive writes
     * {@code .checkpoint-NNNNNN.jlck*.tmp} and renames it; a SIGKILL skips its cleanup). One run owns {@code outDir},
     * so at resume time none of them is in use.
     */
    private static void deleteStaleTemps(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().matches("\\.checkpoint-\\d+\\.jlck.*\\.tmp")).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /**
     * Makes metrics.jsonl end at the resumed step. The interrupted run may have logged steps after its last
     * checkpoint (every step between two checkpoints, or the step whose checkpoint a kill cut short); those steps
     * are recomputed now, and appending them again would list them twice. A last line without its newline (the
     * process was killed mid-write) is dropped too. Rewritten atomically (temp file, fsync, rename), so a kill here
     * leaves either the old or the trimmed file.
     */
    private void trimMetrics(int keepUpTo) throws IOException {
        Path file = outDir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(file)) {
            return;
        }
        String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        var kept = new StringBuilder(text.length());
        boolean changed = false;
        int start = 0;
        while (start < text.length()) {
            int nl = text.indexOf('\n', start);
            if (nl < 0) {           // torn last line
                changed = true;
                break;
            }
            String line = text.substring(start, nl);
            start = nl + 1;
            if (loggedStep(line) > keepUpTo) {
                changed = true;
            } else {
                kept.append(line).append('\n');
            }
        }
        if (!changed) {
            return;
        }
        Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), ".metrics.jsonl", ".tmp");
        try {
            try (var ch = java.nio.channels.FileChannel.open(tmp, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                var buf = java.nio.ByteBuffer.wrap(kept.toString().getBytes(StandardCharsets.UTF_8));
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The "step" of a metrics line written by this class; lines that are not (foreign or unreadable) count as 0. */
    private static long loggedStep(String line) {
        if (line.isBlank()) {
            return 0;
        }
        try {
            Object step = Json.parseObject(line, Json.Limits.DEFAULT, "metrics.jsonl").get("step");
            return step instanceof Number n ? n.longValue() : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    /** Gives {@code h} its checkpointed parameters, state and meta (names without the prefixes). */
    private static void loadHook(TrainingHook h, Map<String, float[]> tensors, Map<String, String> meta) {
        String pre = HOOK_PREFIX + h.name() + ".";
        for (Parameter p : h.parameters()) {
            float[] v = tensors.get(HOOK_PARAM_PREFIX + h.name() + "." + p.name());
            if (v == null || v.length != p.size()) {
                throw new IllegalArgumentException("training hook " + h.name() + ": parameter '" + p.name()
                        + "' is missing or has the wrong size in the checkpoint");
            }
            System.arraycopy(v, 0, p.value(), 0, v.length);
        }
        var state = new LinkedHashMap<String, float[]>();
        for (var e : tensors.entrySet()) {
            if (e.getKey().startsWith(pre)) {
                state.put(e.getKey().substring(pre.length()), e.getValue());
            }
        }
        var hookMeta = new LinkedHashMap<String, String>();
        for (var e : meta.entrySet()) {
            if (e.getKey().startsWith(pre)) {
                hookMeta.put(e.getKey().substring(pre.length()), e.getValue());
            }
        }
        h.load(state, hookMeta);
    }

    private static void expect(Path file, Map<String, String> meta, String key, String want) throws ModelFormatException {
        if (!want.equals(meta.get(key))) {
            throw ModelFormatException.field(file, "meta." + key, "checkpoint has %s but this run has %s",
                    meta.get(key), want);
        }
    }
}

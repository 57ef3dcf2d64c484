package dev.jlora.api;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.infer.GenerationConfig;
import dev.jlora.engine.infer.GenerationResult;
import dev.jlora.engine.infer.Generator;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.infer.SamplerConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * A loaded model, optionally with an adapter applied (unmerged: the base weights stay as loaded). Immutable and
 * safe to share between threads; every generation has its own KV cache. Made by {@link Jlora#load}.
 */
public final class Model {
    private final LlamaModel model;
    private final String name;
    private final Adapter adapter;   // null: the base model

    Model(LlamaModel model, String name) {
        this(model, name, null);
    }

    private Model(LlamaModel model, String name, Adapter adapter) {
        this.model = model;
        this.name = name;
        this.adapter = adapter;
    }

    /**
     * The model's name: its file or directory name.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * A one-line description: architecture, layers, width, vocabulary and context length.
     *
     * @return e.g. {@code "llama, 5 layers, dim 64, vocabulary 512, context 512"}
     */
    public String describe() {
        var c = model.config();
        return String.format(Locale.ROOT, "%s, %d layers, dim %d, vocabulary %d, context %d", c.architecture(),
                c.nLayers(), c.dim(), c.vocabSize(), c.contextLength());
    }

    /**
     * The adapter applied by {@link #withAdapter}, if any.
     *
     * @return the adapter, or null for the base model
     */
    public Adapter adapter() {
        return adapter;
    }

    /**
     * This model with {@code adapter} applied to its linear layers (instead of any adapter applied before).
     *
     * @param adapter an adapter of this base model (from {@link #loadAdapter} or {@link FineTune#run})
     * @return a view of the same weights with the adapter; this model is unchanged
     */
    public Model withAdapter(Adapter adapter) {
        return new Model(model, name, adapter);
    }

    /**
     * Loads an adapter for this model: a PEFT directory (LoRA, rsLoRA, DoRA), a llama.cpp LoRA GGUF, a
     * {@code .jlora} file or a {@code jlora train} output directory.
     *
     * @param path the adapter file or directory
     * @return the adapter (not yet applied: see {@link #withAdapter})
     * @throws IOException if the file is missing or malformed, or does not fit this model's shapes
     */
    public Adapter loadAdapter(Path path) throws IOException {
        return new Adapter(AdapterFiles.load(path, model), model.config(), java.util.Map.of("base_model", name));
    }

    /**
     * Generates a completion of {@code prompt}.
     *
     * @param prompt  the text to continue (BOS is added)
     * @param options length, sampling and stop strings
     * @return the generated text and statistics
     */
    public Generation generate(String prompt, GenerateOptions options) {
        return generate(prompt, options, text -> { });
    }

    /**
     * Generates a completion of {@code prompt}, streaming the text as it is produced.
     *
     * @param prompt  the text to continue (BOS is added)
     * @param options length, sampling and stop strings
     * @param onText  receives each piece of new text once it is final (whole UTF-8 characters, never a part of a
     *                stop string), on the calling thread
     * @return the generated text and statistics
     */
    public Generation generate(String prompt, GenerateOptions options, Consumer<String> onText) {
        return run(model.tokenizer().encode(prompt, true, false), options, onText);
    }

    /**
     * Continues a conversation: renders {@code messages} with the model's chat template (from its file) and
     * generates the assistant's turn.
     *
     * @param messages the conversation so far, ending with a user turn
     * @param options  length, sampling and stop strings
     * @param onText   receives the reply as it is produced
     * @return the reply and statistics
     */
    public Generation chat(List<ChatMessage> messages, GenerateOptions options, Consumer<String> onText) {
        ChatTemplate template = model.tokenizer().chatTemplate();
        String text = template.render(messages.stream()
                .map(m -> new ChatTemplate.Message(m.role(), m.content())).toList(), true);
        return run(model.tokenizer().encode(text, true, true), options, onText);
    }

    private Generation run(int[] ids, GenerateOptions o, Consumer<String> onText) {
        int context = model.config().contextLength();
        int size = Math.min(context, ids.length + Math.max(1, o.maxTokens()));
        if (ids.length > size) {
            throw new IllegalArgumentException("prompt has " + ids.length + " tokens but the model's context holds "
                    + context);
        }
        var sampling = new SamplerConfig(o.temperature(), o.topK(), o.topP(), o.minP(), o.repeatPenalty(), 64,
                o.seed());
        var session = new InferenceSession(model, adapters(), size);
        GenerationResult r = new Generator(session, model.tokenizer()).generate(ids,
                new GenerationConfig(o.maxTokens(), sampling, o.stop(), o.stopAtEos()), (id, piece) -> {
                    if (!piece.isEmpty()) {
                        onText.accept(piece);
                    }
                });
        return new Generation(r.text(), ids.length, r.tokens().length,
                r.stopReason().name().toLowerCase(Locale.ROOT), r.decodeTokensPerSecond());
    }

    /**
     * Settings for fine-tuning an adapter on this model (the base model: an applied adapter is not trained further).
     *
     * @return a builder with the CLI's defaults ({@code jlora train}); finish with {@link FineTune#run}
     */
    public FineTune fineTune() {
        return new FineTune(model, name);
    }

    /**
     * Starts the OpenAI-compatible HTTP server of {@code jlora serve} in this JVM, serving this base model and the
     * adapters of {@link Server.Options#adapters} (see docs/SERVING.md for the endpoints).
     *
     * @param options address, port, adapters directory and limits
     * @return the running server; close it to stop
     * @throws IOException if the port cannot be bound or the adapters directory cannot be read
     */
    public Server serve(Server.Options options) throws IOException {
        return new Server(model, name, options);
    }

    private AdapterSet adapters() {
        return adapter == null ? AdapterSet.NONE : adapter.adapters();
    }
}

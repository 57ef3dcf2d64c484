package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.adapter.TrainableBase;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Turns the MODEL argument of the CLI into a path: a file, a directory, or {@code demo} (the shipped stories260K). */
final class ModelFiles {
    /** The demo model's place in the repository (see models/README.md). */
    static final Path DEMO = Path.of("models", "stories260K.gguf");

    private ModelFiles() {}

    /**
     * The adapters of {@code --adapter PATH}: a PEFT/MLX directory, a llama.cpp LoRA GGUF, a .jlora file or a
     * {@code jlora train} output directory (see {@link AdapterFiles#load}).
     */
    static AdapterSet adapters(Path adapter, LlamaModel model) throws IOException {
        return adapter == null ? AdapterSet.NONE : AdapterFiles.load(adapter, model);
    }

    /**
     * {@code model} with the base tensors that {@code adapters} trained in full (embedding, norms, head; see
     * {@link TrainableBase}) in place of its own, so that inference with the adapter runs what was trained;
     * {@code model} itself when the adapter trained none.
     */
    static LlamaModel withTrainedBase(LlamaModel model, AdapterSet adapters) {
        if (adapters instanceof TrainableAdapterSet t && t.base() != null) {
            return new LlamaModel(model.config(), t.base().applyTo(model.weights()), model.tokenizer());
        }
        return model;
    }

    /**
     * {@code model} with the context extension (linear RoPE scaling, {@link AdapterFile#ROPE_SCALE_KEY}) that the
     * {@code jlora train --rope-scale} adapter at {@code adapter} was trained with; {@code model} itself when the
     * adapter is none, not a .jlora archive, or trained without one.
     */
    static LlamaModel withContextExtension(LlamaModel model, Path adapter) throws IOException {
        Float f = AdapterFiles.ropeScale(adapter);
        return f == null ? model : new LlamaModel(model.config().withLinearRopeScaling(f), model.weights(), model.tokenizer());
    }

    /** {@code demo} → models/stories260K.gguf under -Djlora.home, the jar's checkout or the working directory. */
    static Path resolve(String model) throws NoSuchFileException {
        if (!model.equals("demo")) {
            Path p = Path.of(model);
            if (!Files.exists(p)) {
                throw new NoSuchFileException(model, null, "no such model file or directory");
            }
            return p;
        }
        String home = System.getProperty("jlora.home");
        if (home != null && Files.isRegularFile(Path.of(home).resolve(DEMO))) {
            return Path.of(home).resolve(DEMO);
        }
        Path jarHome = jarCheckout();
        if (jarHome != null && Files.isRegularFile(jarHome.resolve(DEMO))) {
            return jarHome.resolve(DEMO);
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isRegularFile(d.resolve(DEMO))) {
                return d.resolve(DEMO);
            }
        }
        throw new NoSuchFileException("demo", null, "the demo model " + DEMO + " is not under -Djlora.home=" + home
                + ", the checkout of the jlora jar, or the working directory and its parents");
    }

    /** The checkout that built this jar (cli/target/jlora-cli.jar or cli/target/classes → three levels up). */
    private static Path jarCheckout() {
        try {
            var src = ModelFiles.class.getProtectionDomain().getCodeSource();
            if (src == null) {
                return null;
            }
            Path p = Path.of(src.getLocation().toURI());
            Path target = p.getParent();
            return target == null || target.getParent() == null ? null : target.getParent().getParent();
        } catch (Exception e) {
            return null;
        }
    }
}

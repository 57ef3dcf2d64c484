package dev.jlora.cli;

import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import dev.jlora.loaders.io.AtomicFile;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jlora export ADAPTER --format peft|gguf --base MODEL --out PATH}. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Convert a LoRA adapter to a Hugging Face PEFT directory or a llama.cpp LoRA GGUF.",
                "ADAPTER is a .jlora (or 'jlora train' output directory), a PEFT directory or a LoRA GGUF. PEFT is",
                "adapter_config.json + adapter_model.safetensors; the GGUF is for llama-cli --lora. Q/K rows are",
                "moved between llama.cpp's and Hugging Face's layouts as each format needs."})
final class ExportCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "ADAPTER", description = "adapter file or directory")
    Path adapter;

    @Option(names = "--format", required = true, paramLabel = "peft|gguf", description = "output format: peft, gguf (or jlora)")
    String format;

    @Option(names = "--base", required = true, paramLabel = "MODEL", description = "the base model the adapter was trained on")
    String base;

    @Option(names = "--out", required = true, paramLabel = "PATH", description = "output directory (peft) or file (gguf)")
    Path out;

    @Override
    public Integer call() throws Exception {
        AdapterFiles.Format fmt = AdapterFiles.Format.parse(format);
        Path basePath = ModelFiles.resolve(base);
        LlamaModel m = ModelLoader.load(basePath, new ModelLoader.LoadOptions(null, false));
        var set = AdapterFiles.load(adapter, m);
        String baseName = basePath.getFileName().toString();
        var meta = new java.util.LinkedHashMap<String, String>();
        meta.put("base_model", baseName);
        Float ropeScale = AdapterFiles.ropeScale(adapter);
        if (ropeScale != null) {
            meta.put(AdapterFile.ROPE_SCALE_KEY, Float.toString(ropeScale));
        }
        AdapterFiles.save(out, fmt, set, m.config(), meta);
        System.out.printf("wrote %s adapter (%d modules, %,d parameters) to %s%n", fmt.name().toLowerCase(java.util.Locale.ROOT),
                set.adapters().size(), set.parameterCount(), out);
        if (ropeScale != null && fmt != AdapterFiles.Format.JLORA) {
            String note = ropeNote(fmt, ropeScale);
            System.err.println("note: " + note);
            if (fmt == AdapterFiles.Format.PEFT) {
                AtomicFile.writeString(out.resolve("README.md"), "# LoRA adapter exported by jlora\n\n" + note + "\n");
            }
        }
        return 0;
    }

    /**
     * What a PEFT or LoRA GGUF file cannot say: the adapter was trained with LongLoRA's position interpolation, and
     * gives the intended outputs only on a base run with the same linear RoPE scaling.
     */
    static String ropeNote(AdapterFiles.Format fmt, float factor) {
        String how = fmt == AdapterFiles.Format.PEFT
                ? String.format(java.util.Locale.ROOT, "set \"rope_scaling\": {\"type\": \"linear\", \"factor\": %s} in the base "
                        + "model's config.json", factor)
                : String.format(java.util.Locale.ROOT, "run llama.cpp with --rope-scale %s", factor);
        return String.format(java.util.Locale.ROOT, "this adapter was trained with linear RoPE scaling %s (jlora train "
                + "--rope-scale), which a %s file cannot carry: %s", factor,
                fmt == AdapterFiles.Format.PEFT ? "PEFT" : "LoRA GGUF", how);
    }
}

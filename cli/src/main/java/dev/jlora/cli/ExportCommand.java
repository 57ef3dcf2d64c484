package dev.jlora.cli;

import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
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
        AdapterFiles.save(out, fmt, set, m.config(), baseName);
        System.out.printf("wrote %s adapter (%d modules, %,d parameters) to %s%n", fmt.name().toLowerCase(java.util.Locale.ROOT),
                set.adapters().size(), set.parameterCount(), out);
        return 0;
    }
}

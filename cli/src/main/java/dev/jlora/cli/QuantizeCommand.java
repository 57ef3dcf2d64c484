package dev.jlora.cli;

import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.ModelWriter;
import dev.jlora.loaders.QuantPlan;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.gguf.GgufTensorInfo;
import dev.jlora.quant.QuantType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jlora quantize MODEL --to TYPE OUT}: writes MODEL as a GGUF file with its linear weights in TYPE. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {"Write MODEL (GGUF file, Hugging Face directory or 'demo') as a GGUF file whose linear weights "
                + "are in TYPE, with ggml's reference quantizers (llama.cpp loads the result).",
                "Rows a format cannot hold fall back as llama.cpp does (K-quants to Q5_0/Q5_1/Q8_0, then F16); "
                        + "embeddings and norms are kept."})
final class QuantizeCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", description = "GGUF file, Hugging Face directory, or 'demo'")
    String model;

    @Parameters(index = "1", paramLabel = "OUT", description = "output GGUF file")
    Path out;

    @Option(names = "--to", required = true, paramLabel = "TYPE",
            description = "q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k, f16, bf16 or f32")
    String to;

    @Override
    public Integer call() throws Exception {
        QuantType type = QuantPlan.parse(to);
        if (type == null) {
            throw new IllegalArgumentException("--to needs a format (q4_0, q8_0, q4_k, …), not '" + to + "'");
        }
        if (type.ggmlId() < 0) {
            throw new UnsupportedOperationException(type + " cannot be stored in GGUF (no ggml type); "
                    + "use it at load time with --quant instead");
        }
        Path in = ModelFiles.resolve(model);
        LlamaModel m = ModelLoader.load(in, new ModelLoader.LoadOptions(null, true));
        long t0 = System.nanoTime();
        ModelWriter.writeGguf(m, out, type);
        double seconds = (System.nanoTime() - t0) / 1e9;
        Map<QuantType, Integer> types = new TreeMap<>();
        try (GgufFile f = GgufReader.open(out)) {
            for (GgufTensorInfo t : f.tensors()) {
                types.merge(t.type(), 1, Integer::sum);
            }
        }
        System.out.printf(Locale.ROOT, "wrote %s: %,d bytes (from %,d) in %.1f s; tensors by type: %s%n", out,
                Files.size(out), inputBytes(in), seconds, types);
        return 0;
    }

    private static long inputBytes(Path in) throws java.io.IOException {
        if (!Files.isDirectory(in)) {
            return Files.size(in);
        }
        try (var s = Files.list(in)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (java.io.IOException e) {
                    return 0;
                }
            }).sum();
        }
    }
}

package dev.jlora.cli;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.loaders.gguf.GgufArray;
import dev.jlora.loaders.gguf.GgufConfig;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.gguf.GgufTensorInfo;
import dev.jlora.loaders.gguf.GgufValue;
import dev.jlora.loaders.hf.HfConfig;
import dev.jlora.loaders.safetensors.SafetensorsFile;
import dev.jlora.loaders.safetensors.SafetensorsReader;
import dev.jlora.loaders.safetensors.SafetensorsTensor;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jlora info MODEL}: what a model file holds, without loading its weights. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Show a model's architecture, config, metadata, tensors, parameter count and weight memory.",
                "MODEL is a GGUF file, a Hugging Face model directory, or 'demo' (the built-in stories260K)."})
final class InfoCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", description = "GGUF file, Hugging Face directory, or 'demo'")
    String model;

    @Option(names = "--all-metadata", description = "Print every metadata value in full (long arrays are abbreviated otherwise)")
    boolean allMetadata;

    @Option(names = "--no-tensors", description = "Leave out the tensor table")
    boolean noTensors;

    @Override
    public Integer call() throws Exception {
        Path path = ModelFiles.resolve(model);
        PrintStream out = System.out;
        if (Files.isDirectory(path)) {
            printHf(path, out);
            return 0;
        }
        try (GgufFile f = GgufReader.open(path)) {
            printGguf(f, out);
        }
        return 0;
    }

    private void printGguf(GgufFile f, PrintStream out) throws Exception {
        out.printf(Locale.ROOT, "file:          %s (GGUF v%d, %,d bytes, alignment %d)%n", f.path(), f.version(),
                f.fileSize(), f.alignment());
        String arch = f.getString("general.architecture", "?");
        out.printf("architecture:  %s%n", arch);
        if (f.has("general.name")) {
            out.printf("name:          %s%n", f.getString("general.name"));
        }
        printConfig(GgufConfig.read(f), out);
        out.printf("metadata (%d keys):%n", f.metadata().size());
        for (Map.Entry<String, GgufValue> e : new TreeMap<>(f.metadata()).entrySet()) {
            out.printf("  %-40s %s%n", e.getKey(), show(e.getValue()));
        }
        printTensors(f.tensors().stream().map(t -> new Row(t.name(), t.type().name(), t.rowMajorShape(),
                t.elementCount(), t.byteSize())).toList(), out);
    }

    private void printHf(Path dir, PrintStream out) throws Exception {
        Path configFile = dir.resolve("config.json");
        if (!Files.isRegularFile(configFile)) {
            throw new java.nio.file.NoSuchFileException(configFile.toString(), null,
                    "not a Hugging Face model directory: config.json is missing");
        }
        LlamaConfig config = HfConfig.read(configFile);
        out.printf("directory:     %s (Hugging Face)%n", dir);
        out.printf("architecture:  %s%n", config.architecture());
        printConfig(config, out);
        Object json = Json.parse(Files.readString(configFile));
        if (json instanceof Map<?, ?> m) {
            out.printf("config.json (%d keys):%n", m.size());
            for (Map.Entry<?, ?> e : new TreeMap<>(m).entrySet()) {
                String v = String.valueOf(e.getValue());
                out.printf("  %-40s %s%n", e.getKey(), allMetadata || v.length() <= 120 ? escape(v) : escape(v.substring(0, 117)) + "…");
            }
        }
        try (SafetensorsFile st = SafetensorsReader.open(dir)) {
            out.printf("files:         %s%n", st.files().stream().map(p -> p.getFileName().toString())
                    .collect(Collectors.joining(", ")));
            var rows = new java.util.ArrayList<Row>();
            for (SafetensorsTensor t : new TreeMap<>(st.tensors()).values()) {
                rows.add(new Row(t.name(), t.dtype().name(), t.shape(), t.elementCount(), t.data().byteSize()));
            }
            printTensors(rows, out);
        }
    }

    private static void printConfig(LlamaConfig c, PrintStream out) {
        out.printf(Locale.ROOT, "config:        dim %d, hidden %d, layers %d, heads %d, kv heads %d, head dim %d, vocab %d,%n"
                        + "               context %d, rms eps %s, rope theta %s (%s layout, scaling %s), tied embeddings %s, "
                        + "attention bias %s%n",
                c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.headDim(), c.vocabSize(), c.contextLength(),
                c.rmsEps(), c.ropeTheta(), c.ropeInterleaved() ? "interleaved" : "half-split",
                scaling(c.ropeScaling()),
                c.tiedEmbeddings() ? "yes" : "no", c.attentionBias() ? "yes" : "no");
    }

    private static String scaling(LlamaConfig.RopeScaling s) {
        return switch (s.type()) {
            case NONE -> "none";
            case FREQUENCY_FACTORS -> "per-pair factors from rope_freqs.weight";
            case YARN -> String.format(Locale.ROOT, "YARN ×%s over %d, beta %s/%s, attention factor %.4f", s.factor(),
                    s.originalContextLength(), s.betaFast(), s.betaSlow(), s.attentionFactor());
            default -> s.type() + " ×" + s.factor();
        };
    }

    /** One line of the tensor table: row-major shape, storage type, bytes. */
    private record Row(String name, String type, long[] shape, long elements, long bytes) {}

    private void printTensors(java.util.List<Row> rows, PrintStream out) {
        long params = 0, bytes = 0;
        Map<String, long[]> byType = new TreeMap<>();
        for (Row t : rows) {
            params += t.elements();
            bytes += t.bytes();
            long[] acc = byType.computeIfAbsent(t.type(), k -> new long[2]);
            acc[0]++;
            acc[1] += t.bytes();
        }
        if (!noTensors) {
            out.printf("tensors (%d):%n", rows.size());
            int w = rows.stream().mapToInt(t -> t.name().length()).max().orElse(4);
            out.printf("  %-" + w + "s  %-5s  %-16s  %12s%n", "name", "type", "shape", "bytes");
            for (Row t : rows) {
                out.printf(Locale.ROOT, "  %-" + w + "s  %-5s  %-16s  %,12d%n", t.name(), t.type(),
                        Arrays.stream(t.shape()).mapToObj(Long::toString).collect(Collectors.joining(" × ")), t.bytes());
            }
        }
        out.printf(Locale.ROOT, "parameters:    %,d (%s)%n", params, human(params, 1000, ""));
        out.printf(Locale.ROOT, "weight memory: %,d bytes (%s)  %s%n", bytes, human(bytes, 1024, "B"),
                byType.entrySet().stream().map(e -> e.getKey() + " × " + e.getValue()[0])
                        .collect(Collectors.joining(", ")));
    }

    private String show(GgufValue v) {
        if (v.value() instanceof GgufArray a) {
            int n = a.size();
            int shown = allMetadata ? n : Math.min(n, 8);
            StringBuilder sb = new StringBuilder("[" + a.elementType() + " × " + n + "] ");
            for (int i = 0; i < shown; i++) {
                if (i > 0) sb.append(", ");
                sb.append(switch (a.elementType()) {
                    case STRING -> '"' + escape(a.getString(i)) + '"';
                    case FLOAT32, FLOAT64 -> Double.toString(a.getDouble(i));
                    case BOOL -> Boolean.toString(a.getBool(i));
                    case ARRAY -> "[…]";
                    default -> Long.toString(a.getLong(i));
                });
            }
            if (shown < n) {
                sb.append(", …");
            }
            return sb.toString();
        }
        String s = v.toString();
        return allMetadata || s.length() <= 120 ? escape(s) : escape(s.substring(0, 117)) + "…";
    }

    private static String escape(String s) {
        return s.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t");
    }

    private static String human(long n, int base, String unit) {
        String[] p = base == 1024 ? new String[] {"", "Ki", "Mi", "Gi", "Ti"} : new String[] {"", "K", "M", "B", "T"};
        double v = n;
        int i = 0;
        while (v >= base && i < p.length - 1) {
            v /= base;
            i++;
        }
        return String.format(Locale.ROOT, i == 0 ? "%.0f %s%s" : "%.2f %s%s", v, p[i], unit).trim();
    }
}

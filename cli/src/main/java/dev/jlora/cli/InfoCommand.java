package dev.jlora.cli;

import dev.jlora.loaders.gguf.GgufArray;
import dev.jlora.loaders.gguf.GgufFile;
import dev.jlora.loaders.gguf.GgufReader;
import dev.jlora.loaders.gguf.GgufTensorInfo;
import dev.jlora.loaders.gguf.GgufValue;
import dev.jlora.quant.QuantType;
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
            throw new UnsupportedOperationException("info on a Hugging Face directory needs the safetensors reader, "
                    + "which has not landed yet; GGUF files work");
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
        out.println("config:");
        for (String key : new String[] {"context_length", "embedding_length", "feed_forward_length", "block_count",
                "attention.head_count", "attention.head_count_kv", "attention.key_length", "attention.layer_norm_rms_epsilon",
                "rope.freq_base", "rope.dimension_count", "rope.scaling.type", "rope.scaling.factor", "vocab_size"}) {
            String full = arch + "." + key;
            if (f.has(full)) {
                out.printf("  %-36s %s%n", key, f.value(full));
            }
        }
        out.printf("metadata (%d keys):%n", f.metadata().size());
        for (Map.Entry<String, GgufValue> e : new TreeMap<>(f.metadata()).entrySet()) {
            out.printf("  %-40s %s%n", e.getKey(), show(e.getValue()));
        }
        long params = 0, bytes = 0;
        Map<QuantType, long[]> byType = new TreeMap<>();
        for (GgufTensorInfo t : f.tensors()) {
            params += t.elementCount();
            bytes += t.byteSize();
            long[] acc = byType.computeIfAbsent(t.type(), k -> new long[2]);
            acc[0]++;
            acc[1] += t.byteSize();
        }
        if (!noTensors) {
            out.printf("tensors (%d):%n", f.tensors().size());
            int w = f.tensors().stream().mapToInt(t -> t.name().length()).max().orElse(4);
            out.printf("  %-" + w + "s  %-5s  %-16s  %12s%n", "name", "type", "shape", "bytes");
            for (GgufTensorInfo t : f.tensors()) {
                out.printf(Locale.ROOT, "  %-" + w + "s  %-5s  %-16s  %,12d%n", t.name(), t.type(),
                        Arrays.stream(t.rowMajorShape()).mapToObj(Long::toString).collect(Collectors.joining(" × ")),
                        t.byteSize());
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

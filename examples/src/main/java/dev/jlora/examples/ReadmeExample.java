package dev.jlora.examples;

import dev.jlora.api.Adapter;
import dev.jlora.api.GenerateOptions;
import dev.jlora.api.Jlora;
import dev.jlora.api.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The README's "Use it from Java" snippet: quantize to NF4 on load, fine-tune, generate with the adapter.
 *
 * <pre>examples/run ReadmeExample [MODEL.gguf] [DATA.jsonl] [OUT_DIR] [STEPS]</pre>
 */
public final class ReadmeExample {
    private ReadmeExample() {}

    public static void main(String[] args) throws IOException {
        Path modelFile = Path.of(args.length > 0 ? args[0] : "models/stories260K.gguf");
        Path data = Path.of(args.length > 1 ? args[1] : "examples/data/stories.jsonl");
        Path out = args.length > 2 ? Path.of(args[2]) : Files.createTempDirectory("jlora-readme");
        run(modelFile, data, out, args.length > 3 ? Integer.parseInt(args[3]) : 100);
        System.out.println();
    }

    static Adapter run(Path modelFile, Path data, Path out, int steps) throws IOException {
        // tag::readme[]
        Model model = Jlora.load(modelFile, "nf4");
        Adapter adapter = model.fineTune().data(data).rank(8).seqLen(64).steps(steps).run(out);
        model.withAdapter(adapter).generate("Once upon a time", GenerateOptions.greedy(60), System.out::print);
        // end::readme[]
        return adapter;
    }
}

package dev.jlora.examples;

import dev.jlora.api.Jlora;
import dev.jlora.api.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Trains the same data with several adapter methods (same steps, seed and targets) and prints each one's trainable
 * parameter count and final held-out loss.
 *
 * <pre>examples/run CompareMethodsExample [MODEL.gguf] [DATA.jsonl] [WORK_DIR] [STEPS]</pre>
 */
public final class CompareMethodsExample {
    private CompareMethodsExample() {}

    /** One method's result. */
    record Result(long parameters, double evalLoss) {}

    public static void main(String[] args) throws IOException {
        Path file = Path.of(args.length > 0 ? args[0] : "models/stories260K.gguf");
        Path data = Path.of(args.length > 1 ? args[1] : "examples/data/stories.jsonl");
        Path work = args.length > 2 ? Path.of(args[2]) : Files.createTempDirectory("jlora-compare");
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 40;
        System.out.println("| method | trainable parameters | eval loss |\n|---|---|---|");
        run(file, data, work, steps).forEach((m, r) ->
                System.out.printf("| %s | %,d | %.4f |%n", m, r.parameters(), r.evalLoss()));
    }

    static Map<String, Result> run(Path file, Path data, Path work, int steps) throws IOException {
        Model model = Jlora.load(file);
        var results = new LinkedHashMap<String, Result>();
        // tag::compare[]
        for (String method : new String[] {"lora", "dora", "vera"}) {
            double[] evalLoss = {Double.NaN};
            var adapter = model.fineTune().data(data).method(method).rank(4).steps(steps)
                    .learningRate(5e-3f).seqLen(64).evalFraction(0.25).seed(3)
                    .onEval((step, loss, perplexity) -> evalLoss[0] = loss)
                    .run(work.resolve(method));
            results.put(method, new Result(adapter.parameterCount(), evalLoss[0]));
        }
        // end::compare[]
        return results;
    }
}

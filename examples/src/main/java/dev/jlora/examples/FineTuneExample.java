package dev.jlora.examples;

import dev.jlora.api.Adapter;
import dev.jlora.api.GenerateOptions;
import dev.jlora.api.Jlora;
import dev.jlora.api.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fine-tunes a LoRA adapter on a JSONL dataset with progress callbacks, saves and exports it, and compares the
 * base model's completion with the adapted one.
 *
 * <pre>examples/run FineTuneExample [MODEL.gguf] [DATA.jsonl] [OUT_DIR] [STEPS]</pre>
 */
public final class FineTuneExample {
    private FineTuneExample() {}

    /** What the run produced: the adapter, the first and last training loss, and the two completions. */
    record Outcome(Adapter adapter, double firstLoss, double lastLoss, String base, String adapted) {}

    public static void main(String[] args) throws IOException {
        Path file = Path.of(args.length > 0 ? args[0] : "models/stories260K.gguf");
        Path data = Path.of(args.length > 1 ? args[1] : "examples/data/stories.jsonl");
        Path out = args.length > 2 ? Path.of(args[2]) : Files.createTempDirectory("jlora-finetune");
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 60;
        Outcome o = run(file, data, out, steps);
        System.out.printf("loss %.3f -> %.3f%nbase:    %s%nadapted: %s%n", o.firstLoss(), o.lastLoss(), o.base(),
                o.adapted());
    }

    static Outcome run(Path file, Path data, Path out, int steps) throws IOException {
        double[] losses = {Double.NaN, Double.NaN};
        // tag::finetune[]
        Model model = Jlora.load(file, "q8_0");                // quantize the frozen weights on load
        Adapter adapter = model.fineTune()
                .data(data)                                     // {"text"}, {"prompt","completion"} or {"messages"}
                .method("lora").targets("q,k,v,o").rank(8).alpha(16)
                .steps(steps).learningRate(5e-3f).batchSize(4).seqLen(64).seed(1)
                .onStep(p -> {
                    if (p.step() == 1) {
                        losses[0] = p.loss();
                    }
                    losses[1] = p.loss();
                    if (p.step() % 10 == 0) {
                        System.out.printf("step %d/%d loss %.3f lr %.2e %.0f tok/s%n", p.step(), p.totalSteps(),
                                p.loss(), p.learningRate(), p.tokensPerSecond());
                    }
                })
                .onEval((step, loss, ppl) -> System.out.printf("eval at %d: loss %.3f, perplexity %.2f%n",
                        step, loss, ppl))
                .run(out);                                      // out/adapter.jlora, out/metrics.jsonl
        adapter.export(out.resolve("peft"), "peft");            // Hugging Face PEFT directory
        adapter.export(out.resolve("adapter.gguf"), "gguf");    // llama.cpp: llama-cli --lora adapter.gguf

        var greedy = GenerateOptions.greedy(40);
        String base = model.generate("Lily had a pretty blue hat.", greedy).text();
        String adapted = model.withAdapter(adapter).generate("Lily had a pretty blue hat.", greedy).text();
        // end::finetune[]
        return new Outcome(adapter, losses[0], losses[1], base, adapted);
    }
}

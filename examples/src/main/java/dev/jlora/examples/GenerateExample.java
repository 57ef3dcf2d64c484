package dev.jlora.examples;

import dev.jlora.api.GenerateOptions;
import dev.jlora.api.Generation;
import dev.jlora.api.Jlora;
import dev.jlora.api.Model;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Loads a model and streams a greedy completion to stdout.
 *
 * <pre>examples/run GenerateExample [MODEL.gguf] [PROMPT]</pre>
 */
public final class GenerateExample {
    private GenerateExample() {}

    public static void main(String[] args) throws IOException {
        Path file = Path.of(args.length > 0 ? args[0] : "models/stories260K.gguf");
        String prompt = args.length > 1 ? args[1] : "Once upon a time";
        Generation g = run(file, prompt);
        System.out.printf("%n[%d prompt tokens, %d generated, stopped by %s, %.0f tokens/s]%n",
                g.promptTokens(), g.generatedTokens(), g.stopReason(), g.decodeTokensPerSecond());
    }

    static Generation run(Path file, String prompt) throws IOException {
        // tag::generate[]
        Model model = Jlora.load(file);                       // GGUF file or Hugging Face directory
        System.out.println(model.name() + ": " + model.describe());
        System.out.print(prompt);
        Generation g = model.generate(prompt, GenerateOptions.greedy(60).ignoringEos(), System.out::print);
        // end::generate[]
        return g;
    }
}

package dev.jlora.examples;

import dev.jlora.api.Adapter;
import dev.jlora.api.ChatMessage;
import dev.jlora.api.GenerateOptions;
import dev.jlora.api.Generation;
import dev.jlora.api.Jlora;
import dev.jlora.api.Model;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Loads a saved adapter (a {@code jlora train} output, a PEFT directory, a llama.cpp LoRA GGUF or a .jlora file) and
 * chats with the adapted model through its chat template, streaming the reply.
 *
 * <pre>examples/run ChatWithAdapterExample MODEL ADAPTER [MESSAGE]</pre>
 */
public final class ChatWithAdapterExample {
    private ChatWithAdapterExample() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: ChatWithAdapterExample MODEL ADAPTER [MESSAGE]");
            System.exit(2);
        }
        run(Path.of(args[0]), Path.of(args[1]), args.length > 2 ? args[2] : "Tell me a story about a cat.");
        System.out.println();
    }

    static Generation run(Path file, Path adapterPath, String message) throws IOException {
        // tag::chat[]
        Model base = Jlora.load(file);
        Adapter adapter = base.loadAdapter(adapterPath);        // PEFT dir, LoRA GGUF, .jlora or a train output dir
        Model model = base.withAdapter(adapter);
        var conversation = List.of(ChatMessage.system("You tell short stories."), ChatMessage.user(message));
        return model.chat(conversation, GenerateOptions.sampled(48, 0.8f, 7), System.out::print);
        // end::chat[]
    }
}

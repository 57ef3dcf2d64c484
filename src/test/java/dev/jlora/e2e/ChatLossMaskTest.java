package dev.jlora.e2e;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.data.Example;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.tokenizer.Tokenizer;
import dev.jlora.loaders.tokenizer.Tokenizers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {"messages"} examples with the real tokenizers and chat templates of five model families: the tokens whose loss
 * counts must spell exactly the assistant turns (plus the template's end-of-turn marker), never a user or system
 * turn, even where BPE merges could blur the boundary.
 */
class ChatLossMaskTest {

    @ParameterizedTest
    @ValueSource(strings = {"llama-spm", "llama-bpe", "qwen2", "phi-3", "gpt-2"})
    void lossCoversAssistantTurnsOnly(String vocab) throws Exception {
        Path file = Path.of(System.getProperty("jlora.models", "../shared/models"), "vocab", "ggml-vocab-" + vocab + ".gguf");
        Tokenizer tok = Tokenizers.fromGguf(file);
        var messages = List.<Object>of(
                Map.of("role", "system", "content", "You answer briefly."),
                Map.of("role", "user", "content", "What is the capital of France?"),
                Map.of("role", "assistant", "content", "Paris."),
                Map.of("role", "user", "content", "And of Italy?"),
                Map.of("role", "assistant", "content", "Rome, of course."));
        Example e = JsonlDataset.example(Map.of("messages", messages), tok, vocab);
        // the loss tokens as runs of consecutive positions, decoded
        var runs = new ArrayList<String>();
        var ends = new ArrayList<Boolean>();
        for (int i = 0; i < e.tokens().length; ) {
            if (!e.loss()[i]) {
                i++;
                continue;
            }
            int j = i;
            while (j < e.tokens().length && e.loss()[j]) {
                j++;
            }
            runs.add(tok.decode(java.util.Arrays.copyOfRange(e.tokens(), i, j)));
            boolean endOfTurn = false;
            for (int k = i; k < j; k++) {
                endOfTurn |= tok.isEndOfGeneration(e.tokens()[k]);
            }
            // gpt-2's vocabulary has no <|im_end|> token: there the chatml marker is learned as text
            ends.add(endOfTurn || runs.getLast().contains("<|im_end|>"));
            i = j;
        }
        String all = String.join("|", runs);
        assertTrue(ends.stream().allMatch(b -> b), vocab + ": every assistant turn's loss includes its end-of-turn marker, "
                + "so the model learns to stop: " + all);
        assertTrue(runs.size() == 2, vocab + ": two assistant turns, got " + runs);
        assertTrue(runs.get(0).strip().startsWith("Paris."), vocab + ": " + all);
        assertTrue(runs.get(1).strip().startsWith("Rome, of course."), vocab + ": " + all);
        for (String user : new String[] {"capital", "Italy", "briefly", "user", "system"}) {
            assertFalse(all.contains(user), vocab + ": loss covers '" + user + "': " + all);
        }
    }
}

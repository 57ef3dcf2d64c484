package dev.jlora.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.loaders.tokenizer.ChatTemplates;
import java.util.ArrayList;

/**
 * Chat templates: family detection from a GGUF/tokenizer_config template string, then rendering conversations with
 * any roles and contents. Unknown roles and misplaced system turns must be IllegalArgumentException with a message
 * (the server maps it to HTTP 400); anything else is a finding.
 */
class ChatTemplateFuzzTest {
    @FuzzTest(maxDuration = FuzzInputs.BUDGET)
    @DictionaryEntries({"<|im_start|>", "[INST]", "[SYSTEM_PROMPT]", "<|start_header_id|>", "<|user|>", "<<SYS>>",
            "mistral", "system", "user", "assistant", "tool", "<|eot_id|>", "[/INST]"})
    void chatTemplate(FuzzedDataProvider in) {
        ChatTemplate t = ChatTemplates.detect(in.consumeString(200));
        if (t == null) {
            return;
        }
        var messages = new ArrayList<ChatTemplate.Message>();
        int n = in.consumeInt(0, 6);
        for (int i = 0; i < n; i++) {
            messages.add(new ChatTemplate.Message(in.consumeString(12), in.consumeString(80)));
        }
        try {
            Blackhole.consume(t.render(messages, in.consumeBoolean()).length());
        } catch (IllegalArgumentException expected) {
            if (expected.getMessage() == null || expected.getMessage().isBlank()) {
                throw new AssertionError("rejection without a message", expected);
            }
        }
    }
}

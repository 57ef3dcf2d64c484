package dev.jlora.loaders.tokenizer;

import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.engine.tokenizer.ChatTemplate.Message;
import dev.jlora.engine.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Renders checked against llama.cpp's {@code tests/test-chat-template.cpp} ("expected_output" of its built-in
 * templates, llama.cpp v0.5.0) for the same six-message conversation; detection against marker snippets of the
 * families' Jinja templates.
 */
class ChatTemplatesTest {
    private static final List<Message> CONVERSATION = List.of(
            new Message("system", "You are a helpful assistant"),
            new Message("user", "Hello"),
            new Message("assistant", "Hi there"),
            new Message("user", "Who are you"),
            new Message("assistant", "   I am an assistant   "),
            new Message("user", "Another question"));

    private static final String CHATML_JINJA = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    private static final String LLAMA3_JINJA = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}";
    private static final String LLAMA2_JINJA = "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% endif %}{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content + ' [/INST]' }}{% endif %}{% endfor %}";
    private static final String MISTRAL_V02_JINJA = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}";
    private static final String MISTRAL_V1_JINJA = "{%- if message['role'] == 'user' %}{%- if loop.first and system_message is defined %}{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}{%- endif %}";

    @Test
    void chatml() {
        ChatTemplate t = ChatTemplates.detect(CHATML_JINJA);
        assertEquals("chatml", t.name());
        assertEquals("<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n",
                t.render(CONVERSATION, true));
    }

    @Test
    void llama3() {
        ChatTemplate t = ChatTemplates.detect(LLAMA3_JINJA);
        assertEquals("llama3", t.name());
        assertEquals("<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                t.render(CONVERSATION, true));
    }

    @Test
    void llama2WithSystemBlockAndBosInHistory() {
        ChatTemplate t = ChatTemplates.detect(LLAMA2_JINJA);
        assertEquals(new ChatTemplates.Llama2(true, true, false), t);
        assertEquals("[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who are you [/INST]   I am an assistant   </s><s>[INST] Another question [/INST]",
                t.render(CONVERSATION, true));
    }

    @Test
    void llama2StrippedWithoutBos() {
        assertEquals("[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]I am an assistant</s>[INST] Another question [/INST]",
                ChatTemplates.detect("{% set content = message['content'] %}[INST] {{ content.strip() }} <<SYS>>").render(CONVERSATION, true));
    }

    @Test
    void mistralWithoutSystemSupport() {
        ChatTemplate t = ChatTemplates.detect(MISTRAL_V02_JINJA);
        assertEquals("[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question [/INST]",
                t.render(CONVERSATION, true));
    }

    @Test
    void mistralV1V3V7() {
        ChatTemplate v1 = ChatTemplates.detect(MISTRAL_V1_JINJA);
        assertEquals("mistral", v1.name());
        assertEquals(" [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   </s> [INST] Another question [/INST]",
                v1.render(CONVERSATION, true));
        assertEquals("[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST] I am an assistant</s>[INST] Another question[/INST]",
                ChatTemplates.detect("{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}[AVAILABLE_TOOLS] [").render(CONVERSATION, true));
        assertEquals("[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   </s>[INST]Another question[/INST]",
                ChatTemplates.detect("{{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}[AVAILABLE_TOOLS][").render(CONVERSATION, true));
        assertEquals("[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST]    I am an assistant   </s>[INST] Another question[/INST]",
                ChatTemplates.detect("[SYSTEM_PROMPT] {{ x }}[/SYSTEM_PROMPT][INST]").render(CONVERSATION, true));
    }

    @Test
    void phi3() {
        assertEquals("<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n",
                ChatTemplates.detect("{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}").render(CONVERSATION, true));
    }

    @Test
    void unknownTemplatesAreNotGuessed() {
        assertNull(ChatTemplates.detect("{{ messages }}"));
        assertNull(ChatTemplates.detect(null));
    }

    /** Vocab-only GGUFs carry no template: the family follows the tokens, and the rendered text tokenizes to single special tokens. */
    @Test
    void llama3VocabularyRendersAndEncodesTurnTokens() throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf("ggml-vocab-llama-bpe.gguf");
        assertEquals("llama3", tok.chatTemplate().name());
        String prompt = tok.chatTemplate().render(List.of(new Message("user", "Hi")), true);
        int[] ids = tok.encode(prompt, true, true);
        int startHeader = tok.encode("<|start_header_id|>", false, true)[0];
        int eot = tok.encode("<|eot_id|>", false, true)[0];
        assertEquals(tok.bos(), ids[0], "BOS added for Llama 3 (add_bos_token)");
        assertEquals(startHeader, ids[1]);
        assertTrue(Arrays.stream(ids).anyMatch(id -> id == eot), Arrays.toString(ids));
        assertTrue(tok.isEndOfGeneration(eot), "<|eot_id|> ends generation");
        assertTrue(tok.isEndOfGeneration(tok.eos()));
        assertEquals("user\n\nHiassistant\n\n", tok.decode(ids), "control tokens decode to nothing");
    }

    @Test
    void qwen2VocabularyIsChatMlWithImEndEndingGeneration() throws IOException {
        Tokenizer tok = TokenizerFixtures.gguf("ggml-vocab-qwen2.gguf");
        assertEquals("chatml", tok.chatTemplate().name());
        int[] imEnd = tok.encode("<|im_end|>", false, true);
        assertEquals(1, imEnd.length);
        assertTrue(tok.isEndOfGeneration(imEnd[0]));
    }

    @Test
    void spmVocabularyWithoutTemplateFallsBackToLlama2() throws IOException {
        assertEquals("llama2", TokenizerFixtures.gguf("stories260K.gguf").chatTemplate().name());
    }
}

package dev.jlora.engine.data;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.io.ModelFormatException;
import dev.jlora.engine.tokenizer.ChatTemplate;
import dev.jlora.engine.tokenizer.Tokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Reads a JSON Lines dataset and tokenises it. Each non-blank line is one object in one of three shapes (the
 * shapes of Hugging Face TRL's datasets):
 * <ul>
 *   <li>{@code {"text": "..."}}: language modelling, loss on every token;</li>
 *   <li>{@code {"prompt": "...", "completion": "..."}}: loss on the completion only;</li>
 *   <li>{@code {"messages": [{"role": "user", "content": "..."}, ...]}}: rendered with the model's
 *       {@link ChatTemplate}, loss on the assistant turns only.</li>
 * </ul>
 * Texts get BOS (as the tokenizer adds it) and end with EOS, so the model learns to stop. Errors name the file,
 * the line and the field: {@code data.jsonl:7: field 'messages[1].content': expected a string, found number}.
 */
public final class JsonlDataset {
    /** Longest line accepted (characters), so that a file without newlines fails fast. */
    static final int MAX_LINE_CHARS = 16 << 20;

    private JsonlDataset() {}

    public static List<Example> read(Path file, Tokenizer tokenizer) throws IOException {
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        try (BufferedReader r = new BufferedReader(new java.io.InputStreamReader(Files.newInputStream(file), decoder))) {
            return read(String.valueOf(file.getFileName()), r, tokenizer);
        } catch (CharacterCodingException e) {
            throw ModelFormatException.of(file, "not valid UTF-8 (%s)", e.getMessage());
        }
    }

    /** Reads JSON Lines from {@code in}; {@code name} is used in error messages (a file or resource name). */
    public static List<Example> read(String name, BufferedReader in, Tokenizer tokenizer) throws IOException {
        var out = new ArrayList<Example>();
        var limits = new Json.Limits(64, MAX_LINE_CHARS, MAX_LINE_CHARS, 64);
        int lineNo = 0;
        String line;
        while ((line = readLine(in, name, lineNo + 1)) != null) {
            lineNo++;
            if (lineNo == 1 && line.startsWith("\uFEFF")) {
                line = line.substring(1);
            }
            if (line.isBlank()) {
                continue;
            }
            String where = name + ":" + lineNo;
            Map<String, Object> obj = Json.parseObject(line, limits, where);
            out.add(example(obj, tokenizer, where));
        }
        if (out.isEmpty()) {
            throw new ModelFormatException(name + ": no examples (the file is empty or has only blank lines)");
        }
        return out;
    }

    private static String readLine(BufferedReader r, String name, int lineNo) throws IOException {
        var sb = new StringBuilder();
        int c;
        while ((c = r.read()) >= 0) {
            if (c == '\n') {
                return sb.toString();
            }
            if (sb.length() >= MAX_LINE_CHARS) {
                throw new ModelFormatException(name + ":" + lineNo + ": line is longer than " + MAX_LINE_CHARS
                        + " characters");
            }
            sb.append((char) c);
        }
        return sb.isEmpty() ? null : sb.toString();
    }

    /** One object of any of the three shapes; {@code where} is "file:line". */
    public static Example example(Map<String, Object> obj, Tokenizer tok, String where) throws ModelFormatException {
        if (obj.containsKey("messages")) {
            return chat(obj.get("messages"), tok, where);
        }
        if (obj.containsKey("prompt") || obj.containsKey("completion")) {
            return promptCompletion(string(obj, "prompt", where), string(obj, "completion", where), tok, where);
        }
        if (obj.containsKey("text")) {
            String text = string(obj, "text", where);
            int[] tokens = withEos(tok.encode(text, true, false), tok);
            boolean[] loss = new boolean[tokens.length];
            Arrays.fill(loss, 1, loss.length, true);
            return checked(new Example(tokens, loss, where), where, "text");
        }
        throw new ModelFormatException(where + ": expected an object with \"text\", \"prompt\" and \"completion\", "
                + "or \"messages\", found keys " + obj.keySet());
    }

    static Example promptCompletion(String prompt, String completion, Tokenizer tok, String where)
            throws ModelFormatException {
        if (completion.isEmpty()) {
            throw new ModelFormatException(where + ": field 'completion': must not be empty");
        }
        int[] full = withEos(tok.encode(prompt + completion, true, false), tok);
        int start = commonPrefix(tok.encode(prompt, true, false), full);
        boolean[] loss = new boolean[full.length];
        Arrays.fill(loss, Math.max(1, start), full.length, true);
        return checked(new Example(full, loss, where), where, "completion");
    }

    static Example chat(Object messagesValue, Tokenizer tok, String where) throws ModelFormatException {
        if (!(messagesValue instanceof List<?> list)) {
            throw field(where, "messages", "expected an array, found " + Json.typeName(messagesValue));
        }
        if (list.isEmpty()) {
            throw field(where, "messages", "must not be empty");
        }
        var messages = new ArrayList<ChatTemplate.Message>();
        for (int i = 0; i < list.size(); i++) {
            String f = "messages[" + i + "]";
            if (!(list.get(i) instanceof Map<?, ?> m)) {
                throw field(where, f, "expected an object, found " + Json.typeName(list.get(i)));
            }
            @SuppressWarnings("unchecked")
            var mm = (Map<String, Object>) m;
            String role = string(mm, "role", where, f + ".role");
            if (!role.equals("system") && !role.equals("user") && !role.equals("assistant")) {
                throw field(where, f + ".role", "expected \"system\", \"user\" or \"assistant\", found \"" + role + "\"");
            }
            messages.add(new ChatTemplate.Message(role, string(mm, "content", where, f + ".content")));
        }
        ChatTemplate template = tok.chatTemplate();
        if (template == null) {
            throw new ModelFormatException(where + ": field 'messages': the model has no chat template");
        }
        int[] full = encodeChat(template.render(messages, false), tok);
        boolean[] loss = new boolean[full.length];
        boolean any = false;
        for (int i = 0; i < messages.size(); i++) {
            if (!messages.get(i).role().equals("assistant")) {
                continue;
            }
            any = true;
            // The assistant turn's tokens are those between the rendering of the conversation before it (with the
            // generation prompt) and the rendering that includes it; compared as token prefixes of the whole, so
            // templates that merge text across the boundary still split where the full tokenisation does.
            int start = commonPrefix(encodeChat(template.render(messages.subList(0, i), true), tok), full);
            int end = commonPrefix(encodeChat(template.render(messages.subList(0, i + 1), false), tok), full);
            Arrays.fill(loss, Math.max(1, start), Math.max(start, end), true);
        }
        if (!any) {
            throw field(where, "messages", "has no assistant turn to learn from");
        }
        return checked(new Example(full, loss, where), where, "messages");
    }

    /** Encodes rendered chat text: special-token text is parsed; a BOS added twice (template and tokenizer) once. */
    private static int[] encodeChat(String text, Tokenizer tok) {
        int[] ids = tok.encode(text, true, true);
        if (ids.length >= 2 && tok.bos() >= 0 && ids[0] == tok.bos() && ids[1] == tok.bos()) {
            return Arrays.copyOfRange(ids, 1, ids.length);
        }
        return ids;
    }

    private static int[] withEos(int[] ids, Tokenizer tok) {
        if (tok.eos() < 0 || (ids.length > 0 && ids[ids.length - 1] == tok.eos())) {
            return ids;
        }
        int[] out = Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = tok.eos();
        return out;
    }

    static int commonPrefix(int[] a, int[] b) {
        int n = Math.min(a.length, b.length), i = 0;
        while (i < n && a[i] == b[i]) {
            i++;
        }
        return i;
    }

    private static Example checked(Example e, String where, String field) throws ModelFormatException {
        if (e.targetCount() == 0) {
            throw field(where, field, "gives no tokens to learn from (empty text?)");
        }
        return e;
    }

    private static String string(Map<String, Object> obj, String key, String where) throws ModelFormatException {
        return string(obj, key, where, key);
    }

    private static String string(Map<String, Object> obj, String key, String where, String field)
            throws ModelFormatException {
        if (!obj.containsKey(key)) {
            throw field(where, field, "missing");
        }
        Object v = obj.get(key);
        if (!(v instanceof String s)) {
            throw field(where, field, "expected a string, found " + Json.typeName(v));
        }
        return s;
    }

    private static ModelFormatException field(String where, String field, String msg) {
        return new ModelFormatException(where + ": field '" + field + "': " + msg);
    }
}

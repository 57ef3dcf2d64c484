package dev.jlora.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the README's "five-minute tour" as written, in order, through the CLI's entry point: every {@code ./jlora}
 * command of the tour's shell block must exit 0. Three adjustments keep it fast and self-contained, and nothing else
 * is changed: {@code --steps N} becomes {@code --steps 2} (a resume without --steps gets {@code --steps 3}); the
 * tour's relative file names ({@link #WORKSPACE}) are placed in a temporary directory, with {@code my.jsonl} the
 * quickstart data; commands that need a user's own model ({@code MODEL}) or that serve until stopped are skipped (the
 * server has its own HTTP tests).
 */
class ReadmeTourTest {
    static final Set<String> WORKSPACE = Set.of("my.jsonl", "run1", "run2", "run3", "cmp", "run1-peft", "run1.gguf",
            "merged.gguf", "demo-q4k.gguf");
    static final Pattern STEPS = Pattern.compile("--steps \\d+");

    @TempDir
    Path tmp;

    @Test
    void everyTourCommandRuns() throws Exception {
        Path repo = Path.of(System.getProperty("jlora.repo"));
        String readme = Files.readString(repo.resolve("README.md"));
        int tour = readme.indexOf("## A five-minute tour");
        int start = readme.indexOf("```sh\n", tour) + 6, end = readme.indexOf("```", start);
        List<String> commands = commands(readme.substring(start, end));
        assertTrue(commands.size() >= 10, "the tour has its commands: " + commands);
        try (InputStream data = Main.class.getResourceAsStream("/dev/jlora/cli/quickstart.jsonl")) {
            Files.write(tmp.resolve("my.jsonl"), data.readAllBytes());
        }
        int ran = 0;
        for (String command : commands) {
            if (command.contains("MODEL") || command.startsWith("serve ")) {
                continue;
            }
            String adjusted = STEPS.matcher(command).replaceAll("--steps 2");
            if (adjusted.startsWith("train ") && !adjusted.contains("--steps")) {
                adjusted += " --steps 3";
            }
            List<String> args = new ArrayList<>();
            for (String token : adjusted.split("\\s+")) {
                args.add(WORKSPACE.contains(token) ? tmp.resolve(token).toString()
                        : token.replace("\"", "").replace('\u00A0', ' '));
            }
            var out = new ByteArrayOutputStream();
            var err = new ByteArrayOutputStream();
            PrintStream savedOut = System.out, savedErr = System.err;
            int code;
            try {
                System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
                System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
                code = Main.run(args.toArray(String[]::new));
            } finally {
                System.setOut(savedOut);
                System.setErr(savedErr);
            }
            assertEquals(0, code, "./jlora " + adjusted + "\n" + out + err);
            ran++;
        }
        assertTrue(ran >= 10, "ran " + ran + " commands");
        assertTrue(Files.isRegularFile(tmp.resolve("cmp").resolve("compare.md")), "compare wrote its table");
        assertTrue(Files.isRegularFile(tmp.resolve("run1-peft").resolve("adapter_config.json")), "PEFT export");
        for (String name : WORKSPACE) {
            assertFalse(Files.exists(Path.of(name)), name + " must not be written into the working directory");
        }
    }

    /**
     * The {@code ./jlora} commands of a shell block, one string each: continuation lines joined, comments and the
     * prompt quotes' spaces kept inside one token ("Once upon a time" becomes one argument).
     */
    static List<String> commands(String block) {
        var out = new ArrayList<String>();
        StringBuilder current = null;
        for (String raw : block.split("\n")) {
            String line = stripComment(raw).strip();
            if (line.startsWith("./jlora ")) {
                current = new StringBuilder(line.substring("./jlora ".length()));
            } else if (current == null || line.isEmpty()) {
                continue;
            } else {
                current.append(' ').append(line);
            }
            if (current.toString().endsWith("\\")) {
                current.setLength(current.length() - 1);
            } else {
                out.add(quotedSpacesToNbsp(current.toString().strip()));
                current = null;
            }
        }
        return out;
    }

    private static String stripComment(String line) {
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '"') {
                quoted = !quoted;
            } else if (c == '#' && !quoted) {
                return line.substring(0, i);
            }
        }
        return line;
    }

    /** Keeps a quoted argument in one token when the command is split on spaces (the quotes are dropped later). */
    private static String quotedSpacesToNbsp(String command) {
        Matcher m = Pattern.compile("\"[^\"]*\"").matcher(command);
        var sb = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(sb, Matcher.quoteReplacement(m.group().replace(' ', '\u00A0')));
        }
        m.appendTail(sb);
        return sb.toString();
    }
}

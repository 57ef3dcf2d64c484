package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jlora completion}: the script covers the whole command tree and really completes in bash. */
class CompletionCommandTest {

    @Test
    void scriptMentionsEverySubcommandAndItsOptions() {
        CliRun r = CliRun.of("completion", "bash");
        assertEquals(0, r.code(), r.err());
        for (var sub : Main.commandLine().getSubcommands().entrySet()) {
            assertTrue(r.out().contains(sub.getKey()), "subcommand " + sub.getKey() + " missing from the script");
            for (var option : sub.getValue().getCommandSpec().options()) {
                assertTrue(r.out().contains(option.longestName()),
                        sub.getKey() + " option " + option.longestName() + " missing from the script");
            }
        }
    }

    @Test
    void zshGetsTheSameScriptWhichEnablesBashcompinit() {
        CliRun zsh = CliRun.of("completion", "zsh");
        assertEquals(0, zsh.code(), zsh.err());
        assertEquals(CliRun.of("completion", "bash").out(), zsh.out());
        assertTrue(zsh.out().contains("bashcompinit"), "the zsh script must enable bash completion in zsh");
    }

    @Test
    void unknownShellIsRejectedNamingTheChoices() {
        CliRun r = CliRun.of("completion", "fish");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("bash") && r.err().contains("zsh"), r.err());
    }

    /** Sources the script in a real bash and asks it to complete, as the shell does on TAB. */
    @Test
    void bashCompletesSubcommandsAndOptions(@TempDir Path dir) throws IOException, InterruptedException {
        Path bash = Path.of("/bin/bash");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(bash), "no /bin/bash on this machine");
        Path script = dir.resolve("jlora-completion.bash");
        Files.writeString(script, CliRun.of("completion", "bash").out(), StandardCharsets.UTF_8);
        assertEquals(Set.of("generate"), complete(bash, script, "jlora", "gen"));
        assertEquals(Set.of("--max-tokens"), complete(bash, script, "jlora", "generate", "--max-t"));
        assertEquals(Set.of("bash", "zsh"), complete(bash, script, "jlora", "completion", ""));
    }

    /** What bash offers for the last word of {@code words} (COMPREPLY of the function the script registers with `complete -F`). */
    private static Set<String> complete(Path bash, Path script, String... words) throws IOException, InterruptedException {
        StringBuilder array = new StringBuilder();
        for (String w : words) {
            array.append(" '").append(w).append('\'');
        }
        String line = String.join(" ", words);
        String program = "source '" + script + "'\n"
                + "COMP_WORDS=(" + array + " )\nCOMP_CWORD=" + (words.length - 1) + "\n"
                + "COMP_LINE='" + line + "'\nCOMP_POINT=" + line.length() + "\n"
                + "_complete_jlora\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
        Process p = new ProcessBuilder(List.of(bash.toString(), "-c", program)).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        // stderr only carries "compopt: not currently executing completion function" (we call the function directly).
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), err);
        Set<String> offered = new TreeSet<>();
        for (String s : out.split("\n")) {
            if (!s.isBlank()) {
                offered.add(s.strip());
            }
        }
        return offered;
    }
}

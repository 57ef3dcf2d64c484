package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** docs/CLI.md is exactly what the CLI definitions render; -Djlora.writeDocs=true rewrites it. */
class CliReferenceTest {
    @Test
    void docsMatchTheCliDefinitions() throws IOException {
        Path doc = Path.of(System.getProperty("jlora.repo", "..")).resolve("docs/CLI.md");
        String want = CliReference.markdown();
        if (Boolean.getBoolean("jlora.writeDocs")) {
            Files.createDirectories(doc.getParent());
            Files.writeString(doc, want, StandardCharsets.UTF_8);
        }
        assertTrue(Files.exists(doc), doc + " is missing: regenerate it (see CliReference)");
        assertEquals(want, Files.readString(doc, StandardCharsets.UTF_8),
                "docs/CLI.md is out of date: regenerate with -Djlora.writeDocs=true (see CliReference)");
    }

    @Test
    void everySubcommandHasHelpAndADescription() {
        var root = Main.commandLine();
        for (var sub : root.getSubcommands().values()) {
            var spec = sub.getCommandSpec();
            assertTrue(spec.mixinStandardHelpOptions() || spec.optionsMap().containsKey("--help"),
                    spec.name() + " has no --help");
            assertTrue(spec.usageMessage().description().length > 0, spec.name() + " has no description");
        }
    }
}

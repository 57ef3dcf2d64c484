package dev.jlora.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Every {@code ```java} block of docs/EMBEDDING.md and README.md is a tagged region ({@code // tag::NAME[]} … {@code // end::NAME[]})
 * of an example, which {@link ExamplesTest} runs: the documented code is the code that runs.
 */
class EmbeddingDocTest {
    private static final Pattern JAVA_BLOCK = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL);
    private static final Pattern REGION = Pattern.compile("[ \t]*// tag::([\\w-]+)\\[]\n(.*?)[ \t]*// end::\\1\\[]",
            Pattern.DOTALL);

    @Test
    void everyJavaBlockOfTheDocIsAnExampleRegion() throws IOException {
        Path repo = Path.of(System.getProperty("jlora.repo"));
        // the README's Java snippet counts as a block of the docs too
        String doc = Files.readString(repo.resolve("docs/EMBEDDING.md"), StandardCharsets.UTF_8)
                + Files.readString(repo.resolve("README.md"), StandardCharsets.UTF_8);
        Map<String, String> regions = regions(repo.resolve("examples/src/main/java/dev/jlora/examples"));
        List<String> blocks = new ArrayList<>();
        Matcher m = JAVA_BLOCK.matcher(doc);
        while (m.find()) {
            blocks.add(m.group(1));
        }
        assertEquals(regions.size(), blocks.size(), "one doc block per example region: " + regions.keySet());
        for (String block : blocks) {
            assertTrue(regions.containsValue(block), "a Java block of docs/EMBEDDING.md or README.md is no example "
                    + "region (copy it from the example between its tag:: and end:: lines):\n" + block);
        }
    }

    /** The tagged regions of the examples, dedented, by tag. */
    static Map<String, String> regions(Path dir) throws IOException {
        var out = new LinkedHashMap<String, String>();
        try (var files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                Matcher m = REGION.matcher(Files.readString(f, StandardCharsets.UTF_8));
                while (m.find()) {
                    out.put(m.group(1), dedent(m.group(2)));
                }
            }
        }
        return out;
    }

    private static String dedent(String text) {
        List<String> lines = text.lines().toList();
        int indent = lines.stream().filter(l -> !l.isBlank()).mapToInt(l -> l.length() - l.stripLeading().length())
                .min().orElse(0);
        return lines.stream().map(l -> l.isBlank() ? "" : l.substring(indent)).collect(Collectors.joining("\n")) + "\n";
    }
}

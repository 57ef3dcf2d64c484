package dev.jlora.api;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.tools.DocumentationTool;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The public API's Javadoc builds with every doclint check and no warning: each public type and member is documented
 * (parameters, return values, exceptions), and references resolve.
 */
class ApiJavadocTest {
    @Test
    void javadocOfThePublicApiHasNoErrorsOrWarnings(@TempDir Path out) throws IOException {
        DocumentationTool javadoc = ToolProvider.getSystemDocumentationTool();
        Path sources = Path.of(System.getProperty("jlora.repo"), "api", "src", "main", "java");
        List<String> files;
        try (var walk = Files.walk(sources)) {
            files = walk.filter(p -> p.toString().endsWith(".java")).map(Path::toString).toList();
        }
        // No --add-modules jdk.incubator.vector: the API never names a Vector API type, and the incubator warning
        // would count under -Werror.
        var args = new ArrayList<>(List.of("-Xdoclint:all", "-Werror", "-quiet",
                "-classpath", System.getProperty("java.class.path"), "-d", out.toString()));
        args.addAll(files);
        var log = new StringWriter();
        boolean ok = javadoc.getTask(new PrintWriter(log), null, null, null, args, null).call();
        assertTrue(ok, "javadoc of dev.jlora.api failed:\n" + log);
        assertTrue(Files.isRegularFile(out.resolve("dev/jlora/api/Model.html")), "no page for Model in " + out);
    }
}

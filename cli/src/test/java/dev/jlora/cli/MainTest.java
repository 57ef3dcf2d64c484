package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class MainTest {
    @Test
    void versionNamesTheJavaRuntime() {
        PrintStream saved = System.out;
        var buffer = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buffer, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.run("--version");
        } finally {
            System.setOut(saved);
        }
        assertEquals(0, code);
        String out = buffer.toString(StandardCharsets.UTF_8);
        assertTrue(out.startsWith("jlora "), out);
        assertTrue(out.contains("Java " + Runtime.version().feature()), out);
        // Every provider on the class path is listed, available or with its reason (ffm-bindings is a dependency).
        assertTrue(out.contains("  java: available (pure Java"), out);
        for (String b : new String[] {"openblas", "ggml", "cuda"}) {
            assertTrue(out.contains("  " + b + ": "), b + " missing in: " + out);
        }
    }
}

package dev.jlora.loaders.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFileTest {

    @Test
    void replacesWholeOrNotAtAll(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("sub").resolve("adapter.json");
        AtomicFile.writeString(f, "first");
        assertEquals("first", Files.readString(f));
        AtomicFile.writeString(f, "second");
        assertEquals("second", Files.readString(f));
        // A body that fails half-way: the old content stays, no temporary file remains.
        assertThrows(IOException.class, () -> AtomicFile.write(f, ch -> {
            ch.write(ByteBuffer.wrap("half of a new vers".getBytes()));
            throw new IOException("disk full");
        }));
        assertEquals("second", Files.readString(f));
        try (var s = Files.list(f.getParent())) {
            assertEquals(List.of(f), s.toList());
        }
    }
}

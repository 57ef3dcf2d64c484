package dev.jlora.loaders.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a file so that it either appears complete under its final name or not at all: the body writes a
 * temporary file in the same directory, which is forced to disk and then renamed over the target (an atomic
 * rename on POSIX file systems), and the directory entry is forced too. A failed or interrupted write leaves
 * at most a {@code .NAME.tmp-*} file behind, never a half-written {@code NAME}.
 */
public final class AtomicFile {

    private AtomicFile() {}

    /** Writes the content of the temporary file through {@code ch}; it is positioned at 0 and empty. */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel ch) throws IOException;
    }

    /** Writes {@code target} atomically with {@code body}. Parent directories are created. */
    public static void write(Path target, Body body) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve("." + abs.getFileName() + ".tmp-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                    StandardOpenOption.READ)) {
                body.write(ch);
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot rename " + tmp + " to " + abs + " atomically", e);
            }
            done = true;
            forceDirectory(dir);
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /** Writes {@code bytes} to {@code target} atomically. */
    public static void writeBytes(Path target, byte[] bytes) throws IOException {
        write(target, ch -> {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        });
    }

    /** Writes {@code text} as UTF-8 to {@code target} atomically. */
    public static void writeString(Path target, String text) throws IOException {
        writeBytes(target, text.getBytes(StandardCharsets.UTF_8));
    }

    private static void forceDirectory(Path dir) {
        // Makes the rename durable on Linux; some platforms cannot open directories, and the file itself is
        // already complete, so a failure here is not an error.
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // best effort
        }
    }
}

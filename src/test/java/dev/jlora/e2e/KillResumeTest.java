package dev.jlora.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jlora.engine.io.Json;
import dev.jlora.engine.train.TensorArchive;
import dev.jlora.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash safety of {@code jlora train}: a child JVM training the demo model is killed with SIGKILL
 * ({@link Process#destroyForcibly()}) at seeded random moments after a checkpoint exists, restarted with
 * {@code --resume} each time and finally left to finish. Its adapter and its per-step losses must equal, bit for bit,
 * those of the same training run uninterrupted ({@code --deterministic}: scalar kernels, so the JIT tier a kill
 * happens to leave the restarted JVM in cannot change the last bits). After every kill each file under the final
 * checkpoint name must read back completely (the writer is temp file + fsync + rename), and the resume must succeed.
 */
@Tag("slow")
class KillResumeTest {
    static final int STEPS = 12;
    static final int KILLS = 3;
    static final long SEED = 20261123L;
    /** Hard limit for one child JVM; a child is always killed in finally. */
    static final long CHILD_TIMEOUT_S = 180;

    @TempDir
    Path dir;

    @Test
    void killedAndResumedRunEqualsUninterruptedRun() throws Exception {
        Path data = dir.resolve("tiny.jsonl");
        writeData(data);
        Path killed = dir.resolve("killed"), straight = dir.resolve("straight");
        var rnd = new Random(SEED);

        int kills = 0;
        boolean resume = false;
        while (kills < KILLS) {
            int before = latestStep(killed);
            Process p = start(data, killed, resume);
            try {
                // wait for a checkpoint newer than the one this run resumed from, so every kill interrupts training
                int target = Math.min(STEPS - 4, before + 1 + rnd.nextInt(2));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CHILD_TIMEOUT_S);
                while (latestStep(killed) < target && p.isAlive()) {
                    if (System.nanoTime() > deadline) {
                        fail("no checkpoint of step " + target + " after " + CHILD_TIMEOUT_S + " s\n" + log(killed));
                    }
                    Thread.sleep(5);
                }
                int kill = kills + 1;
                assertTrue(p.isAlive(), () -> "child ended (exit " + p.exitValue() + ") before kill " + kill
                        + " at step ≥ " + target + "\n" + log(killed));
                // Kill 1 at a random point of the next step; kill 2 inside a checkpoint write (a temp file exists);
                // kill 3 after a step is logged but before its checkpoint is renamed into place. The last two
                // windows are milliseconds wide: poll for them, giving up after two more checkpoints.
                switch (kill) {
                    case 1 -> Thread.sleep(rnd.nextInt(150));
                    case 2 -> awaitWindow(p, killed, target, () -> tempFiles(killed) > 0);
                    default -> awaitWindow(p, killed, target, () -> lastLoggedStep(killed) > latestStep(killed));
                }
                p.destroyForcibly();
                assertTrue(p.waitFor(30, TimeUnit.SECONDS), "SIGKILLed child did not exit");
                kills++;
                // where the kill landed: newest checkpoint vs. newest logged step (ahead = mid-step or mid-write)
                System.out.printf("kill %d: checkpoint step %d, last logged step %d, %d temp files%n", kills,
                        latestStep(killed), lastLoggedStep(killed), tempFiles(killed));
            } finally {
                p.destroyForcibly();
            }
            assertCheckpointsReadable(killed);
            assertNull(readIfExists(killed.resolve("adapter.jlora")), "a killed run must not have saved its adapter");
            resume = true;
        }
        assertEquals(0, run(data, killed, true), log(killed));
        assertEquals(0, tempFiles(killed), "the resume removes the temp files of interrupted checkpoint writes");
        assertEquals(0, run(data, straight, false), log(straight));

        var a = TensorArchive.read(straight.resolve("adapter.jlora"));
        var b = TensorArchive.read(killed.resolve("adapter.jlora"));
        assertEquals(a.tensors().keySet(), b.tensors().keySet());
        for (String name : a.tensors().keySet()) {
            assertArrayEquals(a.tensors().get(name), b.tensors().get(name), name + " after " + kills + " kills");
        }
        Map<Long, Double> expected = trainLosses(straight), got = trainLosses(killed);
        assertEquals(STEPS, expected.size(), "uninterrupted run logs every step once");
        assertEquals(expected, got, "step → loss of the killed and resumed run (each step once)");
    }

    /** 24 short stories-style lines: enough packed rows for a few batches at seq-len 32. */
    static void writeData(Path file) throws IOException {
        String[] who = {"Lily", "Tom", "the cat", "a little bird", "Ben", "the dog"};
        String[] what = {"found a red ball", "went to the park", "saw a big tree", "ate a sweet cake",
                "played in the sun", "made a new friend"};
        var lines = new ArrayList<String>();
        for (int i = 0; i < 24; i++) {
            String text = "Once upon a time, " + who[i % who.length] + " " + what[(i * 5) % what.length]
                    + ". It was a happy day.";
            lines.add(Json.write(Map.of("text", text)));
        }
        Files.write(file, lines);
    }

    static Process start(Path data, Path out, boolean resume) throws IOException {
        Files.createDirectories(out);
        String java = ProcessHandle.current().info().command().orElseThrow(
                () -> new IllegalStateException("cannot find the running java binary"));
        var cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "dev.jlora.cli.Main", "train", "demo", "--data", data.toString(), "--out", out.toString(),
                "--steps", Integer.toString(STEPS), "--batch-size", "2", "--seq-len", "32", "--rank", "4",
                "--eval-fraction", "0", "--checkpoint-every", "1", "--seed", "5", "--lr", "1e-2",
                "--deterministic"));
        if (resume) {
            cmd.add("--resume");
        }
        return new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(out.resolve("train.log").toFile())).start();
    }

    static int run(Path data, Path out, boolean resume) throws Exception {
        Process p = start(data, out, resume);
        try {
            assertTrue(p.waitFor(CHILD_TIMEOUT_S, TimeUnit.SECONDS), "train did not finish in " + CHILD_TIMEOUT_S + " s");
            return p.exitValue();
        } finally {
            p.destroyForcibly();
        }
    }

    interface Check {
        boolean holds() throws IOException;
    }

    /** Returns as soon as {@code window} holds, or when the run is two checkpoints past {@code target}. */
    static void awaitWindow(Process p, Path out, int target, Check window) throws Exception {
        while (p.isAlive() && latestStep(out) < target + 2) {
            try {
                if (window.holds()) {
                    return;
                }
            } catch (IOException racedWithTheWriter) {
                // a file vanished or changed while listed/read: look again
            }
            Thread.sleep(1);
        }
    }

    /** Step of the newest checkpoint, 0 if none. */
    static int latestStep(Path out) throws IOException {
        Path ck = Files.isDirectory(out) ? Trainer.latestCheckpoint(out) : null;
        if (ck == null) {
            return 0;
        }
        String n = ck.getFileName().toString();
        return Integer.parseInt(n.substring("checkpoint-".length(), n.length() - ".jlck".length()));
    }

    /** Every file under a final checkpoint name reads back completely and names its own step. */
    static void assertCheckpointsReadable(Path out) throws IOException {
        Path ckDir = out.resolve("checkpoints");
        try (Stream<Path> s = Files.list(ckDir)) {
            for (Path f : s.filter(f -> f.getFileName().toString().endsWith(".jlck")).toList()) {
                var c = TensorArchive.read(f);   // throws on a truncated or garbled file
                assertNotNull(c.meta().get("step"), f.toString());
                assertTrue(f.getFileName().toString().endsWith(String.format("%06d.jlck",
                        Integer.parseInt(c.meta().get("step")))), f + " holds step " + c.meta().get("step"));
            }
        }
    }

    static long lastLoggedStep(Path out) throws IOException {
        Path f = out.resolve("metrics.jsonl");
        if (!Files.exists(f)) {
            return 0;
        }
        long last = 0;
        for (String line : Files.readAllLines(f)) {
            int i = line.indexOf("\"step\":");
            if (i >= 0) {   // a torn last line may not parse: read the number only
                int j = i + 7, k = j;
                while (k < line.length() && Character.isDigit(line.charAt(k))) {
                    k++;
                }
                if (k > j) {
                    last = Math.max(last, Long.parseLong(line.substring(j, k)));
                }
            }
        }
        return last;
    }

    /** Temp files a kill left in the checkpoints folder (never under a final name). */
    static long tempFiles(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out.resolve("checkpoints"))) {
            return s.filter(f -> f.getFileName().toString().endsWith(".tmp")).count();
        }
    }

    static TensorArchive.Contents readIfExists(Path f) throws IOException {
        return Files.exists(f) ? TensorArchive.read(f) : null;
    }

    /** step → loss of the train entries of metrics.jsonl; a step logged twice fails. */
    static Map<Long, Double> trainLosses(Path out) throws IOException {
        var m = new TreeMap<Long, Double>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            var o = Json.parseObject(line, Json.Limits.DEFAULT, out + "/metrics.jsonl");
            if ("train".equals(o.get("kind"))) {
                long step = ((Number) o.get("step")).longValue();
                assertNull(m.put(step, ((Number) o.get("loss")).doubleValue()), "step " + step + " logged twice in " + out);
            }
        }
        return m;
    }

    static String log(Path out) {
        try {
            return "train.log:\n" + Files.readString(out.resolve("train.log"));
        } catch (IOException e) {
            return "(no train.log: " + e.getMessage() + ")";
        }
    }
}

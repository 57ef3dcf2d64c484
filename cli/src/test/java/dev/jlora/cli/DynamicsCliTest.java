package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The optimizer-side --dynamics from the command line: their flag requirements and a run each. */
class DynamicsCliTest {
    @TempDir
    Path dir;

    private CliRun train(String out, String... extra) throws Exception {
        var args = new java.util.ArrayList<>(java.util.List.of("train", "demo", "--data",
                FullTrainingCliTest.data(dir).toString(), "--out", dir.resolve(out).toString(), "--steps", "1",
                "--seq-len", "16", "--batch-size", "1", "--targets", "q,v", "--eval-fraction", "0", "--no-plot"));
        args.addAll(java.util.List.of(extra));
        return CliRun.of(args.toArray(String[]::new));
    }

    @Test
    void alloraAndLoraProStateTheFlagsTheyNeedAndThenTrain() throws Exception {
        var r = train("a", "--dynamics", "allora");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--dropout 0 and --alpha 8"), r.err());
        r = train("a", "--dynamics", "allora", "--alpha", "8", "--dropout", "0");
        assertEquals(0, r.code(), r.err());

        r = train("p", "--dynamics", "lorapro");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--optimizer sgd --momentum 0 --weight-decay 0"), r.err());
        r = train("p", "--dynamics", "lorapro", "--optimizer", "sgd", "--momentum", "0");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.exists(dir.resolve("p").resolve("adapter.jlora")));
    }
}

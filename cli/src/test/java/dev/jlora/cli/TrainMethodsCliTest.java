package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.ModelLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** jlora train --method / --init on the demo model: two steps each, then the saved adapter loads by its method. */
class TrainMethodsCliTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"dora,kaiming,dora,4", "vera,kaiming,vera,4", "nola,kaiming,nola,4", "loldu,kaiming,loldu,4", "bone,kaiming,bone,4", "mora,kaiming,mora,4", "randlora,kaiming,randlora,4", "hydra,kaiming,hydra,4", "mos,kaiming,mos,4",
            "lora,pissa,lora,8", "lora,olora,lora,8"})
    void trainsWithEveryMethodAndSavesALoadableAdapter(String method, String init, String savedMethod, int savedRank)
            throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                """);
        Path out = dir.resolve("out");
        var r = TrainCommandTest.run("train", "demo", "--data", data.toString(), "--out", out.toString(), "--steps", "2",
                "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "q,v", "--eval-fraction", "0",
                "--method", method, "--init", init, "--method-arg", "num_basis_A=3", "--method-arg", "num_basis_B=3");
        if (!method.equals("nola")) {
            assertEquals(1, r.code(), "nola keys are rejected by other methods: " + r.out());
            assertTrue(r.err().contains("has no hyper-parameter 'num_basis_A'"), r.err());
            r = TrainCommandTest.run("train", "demo", "--data", data.toString(), "--out", out.toString(), "--steps", "2",
                    "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "q,v", "--eval-fraction", "0",
                    "--method", method, "--init", init);
        }
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("step     2/2"), r.out());
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        var adapters = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        assertEquals(savedMethod, adapters.get(0, Target.Q).method());
        assertEquals(Integer.toString(savedRank), adapters.get(0, Target.V).config().get("rank"),
                "residual inits are saved as a rank-2r delta on the original weights");
    }
}

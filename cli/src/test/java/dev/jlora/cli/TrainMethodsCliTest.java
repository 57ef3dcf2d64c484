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

    /**
     * The re-parametrised methods end to end: two training steps, the saved adapter rebuilt by its metadata (the
     * option given as --method-arg survives), then {@code jlora merge} to an F32 GGUF whose eval loss equals the
     * unmerged adapter's (|Δ NLL| ≤ 1e-4 nats: fp32 rounding of W + ΔW only).
     */
    @ParameterizedTest
    @CsvSource({"flora,flora_scale=2,flora_scale,2.0", "bone,init_weights=bat,init_weights,bat",
            "mora,mora_type=6,mora_type,6", "salt,r_lora=4,r_lora,4", "kasa,beta=1e-3,kasa_base,original"})
    void trainsAndMergesTheReparametrisedMethods(String method, String methodArg, String key, String savedValue)
            throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                """);
        Path out = dir.resolve("out");
        var r = TrainCommandTest.run("train", "demo", "--data", data.toString(), "--out", out.toString(), "--steps", "2",
                "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "q,v", "--eval-fraction", "0",
                "--method", method, "--method-arg", methodArg, "--lr", "1e-2", "--no-plot");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("step     2/2"), r.out());
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        var adapters = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        assertEquals(method, adapters.get(0, Target.Q).method());
        assertEquals(savedValue, adapters.get(1, Target.V).config().get(key));
        var q = adapters.get(0, Target.Q);
        float[] dw = new float[q.outFeatures() * q.inFeatures()];
        q.mergeInto(dw);
        double moved = 0;
        for (float v : dw) {
            moved = Math.max(moved, Math.abs(v));
        }
        assertTrue(moved > 1e-4, "two steps must move ΔW, max |ΔW| = " + moved);
        if (method.equals("kasa")) {
            assertTrue(r.out().contains("base weights replaced by their residual"), r.out());
            assertTrue(Files.readString(out.resolve("metrics.jsonl")).contains("\"kasa_l3\""), "the kasa hook ran");
        }
        Path merged = dir.resolve("merged.gguf");
        var m = TrainCommandTest.run("merge", "demo", "--adapter", out.resolve("adapter.jlora").toString(),
                "--out", merged.toString(), "--to", "f32");
        assertEquals(0, m.code(), m.err());
        var delta = java.util.regex.Pattern.compile("delta:\\s+([-+0-9.eE]+) nats").matcher(m.out());
        assertTrue(delta.find(), m.out());
        assertEquals(0, Double.parseDouble(delta.group(1)), 1e-4, m.out());
    }

    /**
     * SoRA end to end: with ξ = lr·λ = 0.5 per step (constant lr 1e-2, sparse_lambda 50) part of the N(0,1) gates
     * are pruned; the metrics log the active rank, merge keeps only active components (|Δ NLL| ≤ 1e-4), and the PEFT
     * export is LoRA of the pruned rank per module.
     */
    @org.junit.jupiter.api.Test
    void soraPrunesGatesAndExportsThePrunedRank() throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                """);
        Path out = dir.resolve("out");
        var r = TrainCommandTest.run("train", "demo", "--data", data.toString(), "--out", out.toString(), "--steps", "2",
                "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "q,v", "--eval-fraction", "0",
                "--method", "sora", "--method-arg", "sparse_lambda=50", "--lr", "1e-2", "--schedule", "constant",
                "--no-plot", "--export", "peft");
        assertEquals(0, r.code(), r.err());
        var model = ModelLoader.load(ModelFiles.resolve("demo"));
        var adapters = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        int active = 0, total = 0;
        for (var a : adapters.adapters()) {
            active += ((dev.jlora.engine.adapter.SoraAdapter) a).activeRank();
            total += 4;
        }
        assertTrue(active > 0 && active < total, "some gates pruned: " + active + "/" + total);
        String metrics = Files.readString(out.resolve("metrics.jsonl"));
        assertTrue(metrics.contains("\"sora_active_rank\":" + active), metrics);
        var peft = dev.jlora.loaders.adapter.AdapterFiles.load(out.resolve("adapter-peft"), model);
        int exported = 0;
        for (var a : peft.adapters()) {
            exported += Integer.parseInt(a.config().get("rank"));
        }
        assertTrue(exported < total, "PEFT export has the pruned ranks: " + exported + " < " + total);
        var m = TrainCommandTest.run("merge", "demo", "--adapter", out.resolve("adapter.jlora").toString(),
                "--out", dir.resolve("merged.gguf").toString(), "--to", "f32");
        assertEquals(0, m.code(), m.err());
        var delta = java.util.regex.Pattern.compile("delta:\\s+([-+0-9.eE]+) nats").matcher(m.out());
        assertTrue(delta.find(), m.out());
        assertEquals(0, Double.parseDouble(delta.group(1)), 1e-4, m.out());
    }
}

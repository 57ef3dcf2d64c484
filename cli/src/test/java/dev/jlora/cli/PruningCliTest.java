package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.LoraPruneAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.adapter.TrainableAdapter;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.train.AdapterFile;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.PeftAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRAPrune and LoRAM through the CLI on the demo model (stories260K), a few steps each. */
class PruningCliTest {
    @TempDir
    Path dir;

    Path data() throws Exception {
        Path data = dir.resolve("d.jsonl");
        Files.writeString(data, """
                {"text": "Once upon a time, there was a cat named Tom. Tom liked milk."}
                {"text": "One day, Tom saw a bird. The bird sang a song."}
                """);
        return data;
    }

    private static double nll(String out, String label) {
        var m = Pattern.compile(Pattern.quote(label) + "\\s+mean NLL ([0-9.]+)").matcher(out);
        assertTrue(m.find(), label + " in: " + out);
        return Double.parseDouble(m.group(1));
    }

    /**
     * loraprune trains with its schedule to ⌊n·ratio⌋ pruned head groups and channels in every prunable block (all but
     * the last of the 5), saves the masks with the adapter; generate and eval apply them; merge writes the pruned
     * model (pruned rows of W + ΔW zero) whose loss equals the unmerged adapter's; LoRA exports are refused by name.
     */
    @Test
    void loraPruneTrainsToTheTargetAndItsMasksTravelWithTheAdapter() throws Exception {
        Path out = dir.resolve("lp");
        Path data = data();
        var r = TrainCommandTest.run("train", "demo", "--data", data.toString(), "--out", out.toString(),
                "--steps", "4", "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "all-linear",
                "--eval-fraction", "0", "--no-plot", "--method", "loraprune", "--method-arg", "ratio=0.5",
                "--method-arg", "prune_freq=1", "--method-arg", "warmup_iters=0", "--method-arg", "cooldown_iters=0.3");
        assertEquals(0, r.code(), r.err());
        LlamaModel model = ModelLoader.load(ModelFiles.resolve("demo"));
        var c = model.config();
        var last = RankMethodsCliTest.trainLines(out).getLast();
        int prunable = c.nLayers() - 1 - (int) (0.1 * c.nLayers());
        assertEquals((long) prunable * (c.hiddenDim() / 2), ((Number) last.get("pruned_channels")).longValue());
        assertEquals((long) prunable * (c.nKvHeads() / 2), ((Number) last.get("pruned_head_groups")).longValue());

        Path adapter = out.resolve("adapter.jlora");
        var saved = AdapterFile.load(adapter, model.weights());
        var v0 = (LoraPruneAdapter) saved.get(0, Target.V);
        int zeros = 0;
        for (float f : v0.mask()) {
            zeros += f == 0f ? 1 : 0;
        }
        assertEquals(c.nKvHeads() / 2 * c.headDim(), zeros, "the saved v mask of block 0");

        var g = TrainCommandTest.run("generate", "demo", "--adapter", adapter.toString(), "--prompt", "Once upon a time",
                "--max-tokens", "8", "--temperature", "0");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("Once upon a time"), g.out());
        var e = TrainCommandTest.run("eval", "demo", "--data", data.toString(), "--adapter", adapter.toString());
        assertEquals(0, e.code(), e.err());

        Path merged = dir.resolve("pruned.gguf");
        var m = TrainCommandTest.run("merge", "demo", "--adapter", adapter.toString(), "--out", merged.toString(),
                "--to", "f32");
        assertEquals(0, m.code(), m.err());
        // f32 merge: the merged weights differ from W + ΔW applied unmerged only by fp32 rounding.
        double unmerged = nll(m.out(), "unmerged adapter:"), asWritten = nll(m.out(), "merged (as written):");
        assertEquals(unmerged, asWritten, 1e-4 * unmerged, m.out());
        var pruned = ModelLoader.load(merged);
        float[] row = new float[c.dim()];
        for (int o = 0; o < v0.outFeatures(); o++) {
            if (v0.mask()[o] == 0f) {
                pruned.weights().layers().get(0).wv().dequantizeRow(o, row, 0);
                for (float f : row) {
                    assertEquals(0f, f, "merged v row " + o + " of a pruned head");
                }
            }
        }

        var peft = TrainCommandTest.run("export", adapter.toString(), "--base", "demo", "--format", "peft",
                "--out", dir.resolve("peft").toString());
        assertTrue(peft.code() != 0 && peft.err().contains("pruning masks"), peft.err());
        var early = TrainCommandTest.run("train", "demo", "--data", data.toString(), "--out",
                dir.resolve("x").toString(), "--steps", "1", "--targets", "all-linear", "--method", "loraprune",
                "--export", "gguf");
        assertTrue(early.code() != 0 && early.err().contains("pruning masks"), early.err());
        assertTrue(!Files.exists(dir.resolve("x/adapter.jlora")), "refused before training");
    }

    /**
     * loram trains LoRA on the pruned base (smaller weights, printed), saves it recovered to the full shape as a plain
     * lora that generates with the unpruned base and exports to PEFT; the recovered B of v is zero at the pruned rows.
     */
    @Test
    void loramTrainsSmallAndSavesAFullShapeLora() throws Exception {
        Path out = dir.resolve("lm");
        var r = TrainCommandTest.run("train", "demo", "--data", data().toString(), "--out", out.toString(),
                "--steps", "3", "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "all-linear",
                "--eval-fraction", "0", "--no-plot", "--lr", "1e-2", "--method", "loram", "--method-arg", "ratio=0.5",
                "--export", "peft");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("loram: pruned base (random)") && r.out().contains("saved as lora"), r.out());
        LlamaModel model = ModelLoader.load(ModelFiles.resolve("demo"));
        var saved = AdapterFile.load(out.resolve("adapter.jlora"), model.weights());
        var v0 = (LoraAdapter) saved.get(0, Target.V);
        assertEquals("lora", v0.method());
        assertEquals(model.config().kvDim(), v0.outFeatures(), "full shape");
        int zeroRows = 0, r4 = v0.rank();
        for (int o = 0; o < v0.outFeatures(); o++) {
            boolean zero = true;
            for (int k = 0; k < r4; k++) {
                zero &= v0.loraB().value()[o * r4 + k] == 0f;
            }
            zeroRows += zero ? 1 : 0;
        }
        assertEquals(model.config().nKvHeads() / 2 * model.config().headDim(), zeroRows,
                "B of v is zero exactly at the pruned KV heads' rows (trained rows are non-zero after 3 steps)");

        var g = TrainCommandTest.run("generate", "demo", "--adapter", out.resolve("adapter.jlora").toString(),
                "--prompt", "Once upon a time", "--max-tokens", "8", "--temperature", "0");
        assertEquals(0, g.code(), g.err());
        var peft = PeftAdapter.read(out.resolve("adapter-peft"), model, w -> {});
        for (TrainableAdapter a : peft.adapters()) {
            assertEquals("lora", a.method());
        }
        assertEquals(saved.parameterCount(), peft.parameterCount(), "the PEFT export holds the full-shape LoRA");
        assertTrue(Files.readString(out.resolve("loram-structures.txt")).startsWith("block 0: kept KV head groups"));
        var otherSeed = TrainCommandTest.run("train", "demo", "--data", data().toString(), "--out", out.toString(),
                "--steps", "4", "--seq-len", "16", "--batch-size", "1", "--rank", "4", "--targets", "all-linear",
                "--eval-fraction", "0", "--no-plot", "--method", "loram", "--seed", "7", "--resume");
        assertTrue(otherSeed.code() != 0 && otherSeed.err().contains("pruned structures differ"), otherSeed.err());
        var bad = TrainCommandTest.run("train", "demo", "--data", data().toString(), "--out", dir.resolve("x").toString(),
                "--steps", "1", "--method", "loram", "--init", "pissa");
        assertTrue(bad.code() != 0 && bad.err().contains("--init pissa"), bad.err());
    }
}

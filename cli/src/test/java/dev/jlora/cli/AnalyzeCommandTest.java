package dev.jlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jlora analyze} on stories260K with a random rank-4 LoRA on q and v. */
class AnalyzeCommandTest {
    @TempDir
    static Path tmp;

    @Test
    void writesATableRowPerModuleAndTheSpectrumPlot() throws Exception {
        Path gguf = CliRun.models().resolve("stories260K.gguf");
        LlamaModel model = ModelLoader.load(gguf);
        var set = MergeAdaptersCommandTest.randomLora(model, 4, 8f, EnumSet.of(Target.Q, Target.V), 3);
        Path adapter = tmp.resolve("a.jlora");
        AdapterFiles.save(adapter, AdapterFiles.Format.JLORA, set, model.config(), "stories260K");
        Path out = tmp.resolve("report");
        var run = CliRun.of("analyze", adapter.toString(), "--model", gguf.toString(), "--out", out.toString(),
                "--intruder-k", "4");
        assertEquals(0, run.code(), run.err());
        assertTrue(run.out().contains("analysed " + 2 * model.config().nLayers() + " modules"), run.out());
        String md = Files.readString(out.resolve("analysis.md"));
        long rows = md.lines().filter(l -> l.matches("\\| \\d+ \\| (q|v)_proj \\| lora \\| 4 \\|.*")).count();
        assertEquals(2L * model.config().nLayers(), rows, md);
        String svg = Files.readString(out.resolve("spectra.svg"));
        assertEquals(2L * model.config().nLayers(), svg.lines().filter(l -> l.contains("class=\"spectrum\"")).count(), svg);
    }
}

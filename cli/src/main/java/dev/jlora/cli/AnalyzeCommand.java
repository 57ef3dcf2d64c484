package dev.jlora.cli;

import dev.jlora.engine.analysis.AdapterAnalysis;
import dev.jlora.engine.analysis.SpectrumReport;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import dev.jlora.loaders.io.AtomicFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jlora analyze ADAPTER --model MODEL [--out DIR]}: the spectral report of {@link AdapterAnalysis}. */
@Command(name = "analyze", mixinStandardHelpOptions = true,
        description = {"Spectral analysis of an adapter's updates ΔW, per (layer, module).",
                "Singular values, effective rank (Roy & Vetterli 2007), 90%-energy rank, ‖ΔW‖/‖W‖ and intruder",
                "dimensions (Shuttleworth et al. 2024). With --out DIR, writes DIR/analysis.md and DIR/spectra.svg;",
                "otherwise prints the Markdown report."})
final class AnalyzeCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "ADAPTER", description = "adapter: .jlora, PEFT directory or LoRA GGUF")
    Path adapter;

    @Option(names = "--model", required = true, paramLabel = "MODEL", description = "the base model the adapter was trained on")
    String model;

    @Option(names = "--out", paramLabel = "DIR", description = "directory for analysis.md and spectra.svg (default: print the report)")
    Path out;

    @Option(names = "--intruder-k", defaultValue = "10", paramLabel = "K",
            description = "top singular vectors of W + ΔW examined for intruder dimensions (default: ${DEFAULT-VALUE})")
    int intruderK;

    @Option(names = "--intruder-epsilon", defaultValue = "0.5", paramLabel = "EPS",
            description = "a vector is an intruder when its |cos| with every singular vector of W is below EPS (default: ${DEFAULT-VALUE})")
    double intruderEpsilon;

    @Option(names = "--intruder-limit", defaultValue = "1024", paramLabel = "N",
            description = "skip intruder detection (two full SVDs) on modules with min(OC, IC) > N (default: ${DEFAULT-VALUE})")
    int intruderLimit;

    @Override
    public Integer call() throws Exception {
        var opt = new AdapterAnalysis.Options(intruderK, intruderEpsilon, intruderLimit);
        Path basePath = ModelFiles.resolve(model);
        LlamaModel base = ModelLoader.load(basePath, new ModelLoader.LoadOptions(null, false));
        var set = AdapterFiles.load(adapter, base);
        var modules = AdapterAnalysis.analyze(set, base.weights(), opt);
        String title = "Adapter analysis: " + adapter.getFileName() + " on " + basePath.getFileName();
        String md = SpectrumReport.markdown(title, modules, opt);
        if (out == null) {
            System.out.print(md);
            return 0;
        }
        Files.createDirectories(out);
        AtomicFile.writeString(out.resolve(SpectrumReport.MARKDOWN), md);
        AtomicFile.writeString(out.resolve(SpectrumReport.SVG), SpectrumReport.svg("Singular values of ΔW: "
                + adapter.getFileName(), modules));
        int intruders = modules.stream().mapToInt(m -> Math.max(0, m.intruders())).sum();
        double meanEffective = modules.stream().mapToDouble(AdapterAnalysis.Module::effectiveRank).average().orElse(0);
        System.out.printf(java.util.Locale.ROOT, "analysed %d modules: mean effective rank %.2f, %d intruder dimensions%n"
                + "wrote %s and %s%n", modules.size(), meanEffective, intruders, out.resolve(SpectrumReport.MARKDOWN),
                out.resolve(SpectrumReport.SVG));
        return 0;
    }
}

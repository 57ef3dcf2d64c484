package dev.jlora.cli;

import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.merge.AdapterMerger;
import dev.jlora.engine.merge.MergeMethod;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.ModelLoader;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code jlora merge-adapters ADAPTER... --model MODEL --out OUT [--method M] [--weights w,…] [--density d]
 * [--rank r] [--seed s] [--format F]}: several adapters for one base combined into one rank-r LoRA
 * ({@link AdapterMerger}).
 */
@Command(name = "merge-adapters", mixinStandardHelpOptions = true,
        description = {"Combine several adapters trained on the same base into one LoRA.",
                "Each module's updates ΔWᵢ are combined by --method (linear: Σ wᵢ·ΔWᵢ; ties: TIES-Merging; dare:",
                "DARE drop-and-rescale then sum; dare_ties: DARE then TIES sign election; lora-lego: k-means",
                "of the LoRAs' rank-1 units), then reduced to rank --rank by truncated SVD. Inputs may be",
                ".jlora, PEFT directories or LoRA GGUFs, in any mix."})
final class MergeAdaptersCommand implements Callable<Integer> {

    @Parameters(arity = "1..*", paramLabel = "ADAPTER", description = "adapters to merge: .jlora, PEFT directory or LoRA GGUF")
    List<Path> adapters;

    @Option(names = "--model", required = true, paramLabel = "MODEL", description = "the base model the adapters were trained on")
    String model;

    @Option(names = "--out", required = true, paramLabel = "OUT", description = "output: FILE.jlora, FILE.gguf or a PEFT directory")
    Path out;

    @Option(names = "--method", defaultValue = "linear", paramLabel = "M",
            description = "linear, ties, dare, dare_ties or lora-lego (default: ${DEFAULT-VALUE})")
    String method;

    @Option(names = "--weights", split = ",", paramLabel = "w1,w2,…", description = "one weight per adapter (default: all 1)")
    double[] weights;

    @Option(names = "--density", defaultValue = "NaN", paramLabel = "D",
            description = "ties/dare: fraction of ΔW's entries kept (TIES: top-|x|; DARE: kept with probability D, rescaled by 1/D)")
    double density;

    @Option(names = "--rank", defaultValue = "0", paramLabel = "R",
            description = "rank of the merged LoRA (default: Σ of the input ranks for linear, which is exact; their maximum otherwise)")
    int rank;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "seed of DARE's drops and LoRA-LEGO's k-means (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--format", paramLabel = "F", description = "jlora, peft or gguf (default: from OUT: .jlora, .gguf, else a PEFT directory)")
    String format;

    @Override
    public Integer call() throws Exception {
        MergeMethod m = MergeMethod.parse(method);
        if (m.usesDensity() && Double.isNaN(density)) {
            throw new IllegalArgumentException("--method " + m.cliName() + " needs --density D (the fraction of entries kept, e.g. 0.2)");
        }
        var cfg = new AdapterMerger.Config(m, weights, m.usesDensity() ? density : 0, rank, seed);
        AdapterFiles.Format fmt = format != null ? AdapterFiles.Format.parse(format) : formatOf(out);
        Path basePath = ModelFiles.resolve(model);
        LlamaModel base = ModelLoader.load(basePath, new ModelLoader.LoadOptions(null, false));
        var inputs = new ArrayList<TrainableAdapterSet>();
        for (Path p : adapters) {
            inputs.add(AdapterFiles.load(p, base));
        }
        AdapterMerger.Result result = AdapterMerger.merge(inputs, base.weights(), cfg);
        AdapterFiles.save(out, fmt, result.adapters(), base.config(), basePath.getFileName().toString());

        double worst = 0, sum = 0;
        for (var r : result.modules()) {
            double rel = r.norm() > 0 ? r.truncationError() / r.norm() : 0;
            worst = Math.max(worst, rel);
            sum += rel;
        }
        System.out.printf(Locale.ROOT, "merged %d adapters (%s) into a rank-%d LoRA: %d modules, %,d parameters, %s written to %s%n",
                inputs.size(), m.cliName(), result.rank(), result.modules().size(), result.adapters().parameterCount(),
                fmt.name().toLowerCase(Locale.ROOT), out);
        if (m != MergeMethod.LORA_LEGO) {
            System.out.printf(Locale.ROOT, "rank-%d truncation error ‖ΔW − ΔW_r‖/‖ΔW‖: mean %.3g, max %.3g%n",
                    result.rank(), sum / Math.max(1, result.modules().size()), worst);
        }
        return 0;
    }

    /** .gguf → GGUF, .jlora → jlora, anything else a PEFT directory. */
    static AdapterFiles.Format formatOf(Path out) {
        String name = out.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".gguf") ? AdapterFiles.Format.GGUF
                : name.endsWith(".jlora") ? AdapterFiles.Format.JLORA : AdapterFiles.Format.PEFT;
    }
}

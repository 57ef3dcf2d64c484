package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.dynamics.DyLora;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code jlora eval MODEL --data FILE.jsonl [--adapter PATH] [--rank K,…] [--json]}: mean NLL and perplexity; with
 * {@code --rank}, of a DyLoRA adapter truncated to each rank (a table when several).
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Mean next-token negative log-likelihood and perplexity of a model on a JSONL dataset.",
                "Each example is evaluated alone from position 0 with BOS (and the EOS the dataset appends), no "
                        + "padding; the mean is over every predicted token (for prompt/completion and messages data, "
                        + "the completion/assistant tokens)."})
final class EvalCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL", description = "GGUF file, Hugging Face directory, or 'demo'")
    String model;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "JSONL: {\"text\"}, {\"prompt\",\"completion\"} or {\"messages\"}")
    Path data;

    @Option(names = "--adapter", paramLabel = "PATH", description = "LoRA adapter: PEFT directory, LoRA GGUF or .jlora")
    Path adapter;

    @Option(names = "--quant", paramLabel = "Q", description = "Quantize the base at load (as for training), e.g. q4_0, nf4")
    String quant;

    @Option(names = "--json", description = "Print exactly one JSON line {\"mean_nll\":…,\"tokens\":…,\"perplexity\":…} "
            + "(one line per rank with --rank, with a \"rank\" field)")
    boolean json;

    @Option(names = "--rank", paramLabel = "K", split = ",",
            description = "DyLoRA adapters: evaluate the adapter truncated to rank K (α/K scale); several ranks "
                    + "(--rank 1,2,4,8) print a table")
    java.util.List<Integer> ranks = java.util.List.of();

    @Override
    public Integer call() throws Exception {
        LlamaModel m = ModelFiles.withContextExtension(CliModels.load(model, quant), adapter);
        AdapterSet adapters = adapter == null ? AdapterSet.NONE : AdapterFiles.load(adapter, m);
        m = ModelFiles.withTrainedBase(m, adapters);
        var examples = JsonlDataset.read(data, m.tokenizer());
        var warn = (java.util.function.Consumer<String>) msg -> System.err.println("warning: " + msg);
        if (ranks.isEmpty()) {
            print(null, Evaluation.evaluate(m, adapters, examples, warn), examples.size());
            return 0;
        }
        if (!(adapters instanceof TrainableAdapterSet set) || !DyLora.isDyLora(set)) {
            throw new IllegalArgumentException("--rank needs a DyLoRA adapter (jlora train --method dylora); "
                    + (adapter == null ? "no --adapter given" : adapter + " is not one"));
        }
        LlamaModel model = m;
        var results = DyLora.atRanks(set, ranks.stream().mapToInt(Integer::intValue).toArray(),
                () -> Evaluation.evaluate(model, set, examples, warn));
        if (json || results.size() == 1) {
            results.forEach((k, r) -> print(k, r, examples.size()));
        } else {
            System.out.printf(Locale.ROOT, "%6s  %12s  %12s%n", "rank", "mean NLL", "perplexity");
            results.forEach((k, r) -> System.out.printf(Locale.ROOT, "%6d  %12.6f  %12.4f%n", k, r.meanNll(),
                    r.perplexity()));
        }
        return 0;
    }

    /** One result, as JSON or text; {@code rank} null when the adapter is not truncated. */
    private void print(Integer rank, Evaluation.Result r, int examples) {
        if (json) {
            var o = new LinkedHashMap<String, Object>();
            if (rank != null) {
                o.put("rank", (long) rank);
            }
            o.put("mean_nll", r.meanNll());
            o.put("tokens", r.tokens());
            o.put("perplexity", r.perplexity());
            System.out.println(dev.jlora.engine.io.Json.write(o));
        } else {
            if (rank != null) {
                System.out.printf(Locale.ROOT, "rank:        %d (truncated DyLoRA adapter)%n", rank);
            }
            System.out.printf(Locale.ROOT, "examples:    %d%n", examples);
            System.out.printf(Locale.ROOT, "tokens:      %d predicted%n", r.tokens());
            System.out.printf(Locale.ROOT, "mean NLL:    %.6f nats%n", r.meanNll());
            System.out.printf(Locale.ROOT, "perplexity:  %.4f%n", r.perplexity());
        }
    }
}

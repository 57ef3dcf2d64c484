package dev.jlora.cli;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.data.JsonlDataset;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.loaders.adapter.AdapterFiles;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code jlora eval MODEL --data FILE.jsonl [--adapter PATH] [--json]}: mean NLL and perplexity. */
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

    @Option(names = "--json", description = "Print exactly one JSON line {\"mean_nll\":…,\"tokens\":…,\"perplexity\":…}")
    boolean json;

    @Override
    public Integer call() throws Exception {
        LlamaModel m = CliModels.load(model, quant);
        AdapterSet adapters = adapter == null ? AdapterSet.NONE : AdapterFiles.load(adapter, m);
        m = ModelFiles.withTrainedBase(m, adapters);
        var examples = JsonlDataset.read(data, m.tokenizer());
        var r = Evaluation.evaluate(m, adapters, examples, msg -> System.err.println("warning: " + msg));
        if (json) {
            var o = new LinkedHashMap<String, Object>();
            o.put("mean_nll", r.meanNll());
            o.put("tokens", r.tokens());
            o.put("perplexity", r.perplexity());
            System.out.println(dev.jlora.engine.io.Json.write(o));
        } else {
            System.out.printf(Locale.ROOT, "examples:    %d%n", examples.size());
            System.out.printf(Locale.ROOT, "tokens:      %d predicted%n", r.tokens());
            System.out.printf(Locale.ROOT, "mean NLL:    %.6f nats%n", r.meanNll());
            System.out.printf(Locale.ROOT, "perplexity:  %.4f%n", r.perplexity());
        }
        return 0;
    }
}

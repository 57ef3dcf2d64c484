package dev.jlora.bench;

import dev.jlora.engine.adapter.AdapterSet;
import dev.jlora.engine.adapter.LoraConfig;
import dev.jlora.engine.adapter.TrainableAdapterSet;
import dev.jlora.engine.infer.InferenceSession;
import dev.jlora.engine.model.LlamaConfig;
import dev.jlora.engine.model.LlamaModel;
import dev.jlora.engine.optim.AdamW;
import dev.jlora.engine.optim.GradientClipping;
import dev.jlora.engine.train.LlamaTrainGraph;
import dev.jlora.loaders.SyntheticModel;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Whole-model steps on a small random Llama (the stories15M block shape: dim 288, hidden 768, 6 heads; 2 layers,
 * vocabulary 2048, F32) for the regression suite: one LoRA training step (forward, loss, backward, clipping, AdamW;
 * r = 8 on q,k,v,o; 2 × 64 tokens) and one decode token (KV cache positions 16 to 255, see {@link #decodeToken}). Small
 * enough for seconds per benchmark; the large-model figures come from {@code TrainBench} and {@code DecodeBench}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Thread)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class StepBench {
    private static final int B = 2, T = 64, PROMPT = 16, CONTEXT = 256;

    private TrainableAdapterSet adapters;
    private LlamaTrainGraph graph;
    private final AdamW optimizer = AdamW.defaults();
    private final int[] inputs = new int[B * T], targets = new int[B * T], prompt = new int[PROMPT];
    private InferenceSession session;
    private long step;

    @Setup
    public void setup() {
        LlamaConfig c = new LlamaConfig("llama", 288, 768, 2, 6, 6, 48, 2048, 256, 1e-5f, 10000f,
                LlamaConfig.RopeScaling.NONE, true, false, false);
        LlamaModel m = SyntheticModel.random(c, 42, null);
        adapters = TrainableAdapterSet.lora(m.weights(), new LoraConfig(8, 16f, 0f, false,
                LoraConfig.parseTargets("q,k,v,o")), 1);
        graph = new LlamaTrainGraph(c, m.weights(), adapters, B, T, false);
        var rnd = new SplittableRandom(3);
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = 3 + rnd.nextInt(c.vocabSize() - 3);
            targets[i] = 3 + rnd.nextInt(c.vocabSize() - 3);
        }
        for (int i = 0; i < PROMPT; i++) {
            prompt[i] = 3 + rnd.nextInt(c.vocabSize() - 3);
        }
        session = new InferenceSession(m, AdapterSet.NONE, CONTEXT);
        session.prefill(prompt);
    }

    @Benchmark
    public double trainStep() {
        adapters.zeroGrad();
        double loss = graph.forwardBackward(inputs, targets, step++, 1f).loss();
        GradientClipping.clip(adapters.parameters(), 1.0);
        optimizer.step(adapters.parameters(), 1e-4f);
        return loss;
    }

    /**
     * One decode step; the KV cache fills from position 16 to 255 and then starts over (reset and a 16-token prefill,
     * one invocation in 240), so the score averages decode over those positions.
     */
    @Benchmark
    public float decodeToken() {
        if (session.position() >= CONTEXT - 1) {
            session.reset();
            session.prefill(prompt);
        }
        return session.decode(prompt[session.position() % PROMPT])[0];
    }
}

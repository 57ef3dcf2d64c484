package dev.jlora.engine.adapter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The adapter of TriAdaptLoRA (Liang, Wang &amp; Zeng 2025, "TriAdaptLoRA: Brain-Inspired Triangular Adaptive Low-Rank
 * Adaptation for Parameter-Efficient Fine-Tuning", arXiv 2501.08008), following the structure of the public
 * {@code TriAdaptLoraLayer}/{@code loraW} code (a PEFT fork): a LoRA update with an r×r transformation matrix C between
 * A and B,
 * <pre>
 *   Δ(x) = s · B·C·A·drop(x),   C = L + U,   s = alpha / (ranknum + 1e-5)
 * </pre>
 * where the active rank grows in blocks (the first of {@code init_r} components, then {@code incre_rank_num} at a
 * time, chosen by the hook {@code dynamics.TriAdaptLora}) and C is split triangularly by blocks: block i of rows of
 * L ({@code lora_C_lower}, the reference's {@code lora_C_row}) spans the columns of blocks 0..i, block i of columns of
 * U ({@code lora_C_upper}, {@code lora_C_col}) spans the rows of blocks 0..i, so L is block-lower-triangular, U
 * block-upper-triangular, both hold the diagonal blocks, and their sum fills the active r×r square. Adding a block
 * adds one row block to L and one column block to U and leaves every existing parameter in place — the paper's
 * "triangular split of transformation matrices" that lets the rank grow without re-parameterising.
 *
 * <p>Storage: allocated at the maximum rank ({@code rank}, the reference has no per-module maximum) and never
 * resized, like {@link RankMaskedAdapter}: {@code rank_block} [r] (a buffer) holds each component's block, −1 for
 * components not grown yet, and entries of L, U outside the structure, or of components not grown, are masked (no
 * contribution, zero gradient), so shapes and the optimizer state stay fixed and checkpoints restore any point.
 *
 * <p>Initialisation, not available to us from the paper's text: the public code draws only the first block of A
 * (N(0, 0.02²)) and leaves B and C at 0, which makes every gradient zero (∂/∂B needs C·A·x, ∂/∂C needs B); its
 * commented-out lines draw A, B, C ~ N(0, 0.02²). We use AdaLoRA's pattern, which that code extends with C in the
 * place of AdaLoRA's diagonal E: A, B ~ N(0, 0.02²) and C = 0 (for the initial block and every grown one), so ΔW is
 * 0 at the start, a new block adds nothing to B·C·A (only the scale α/ranknum shrinks, as in the reference), and
 * ∂/∂C = s·Bᵀ·dy·(A·x)ᵀ starts the learning.
 */
public final class TriAdaptLoraAdapter extends DroppedInputAdapter {
    public static final String METHOD = "triadaptlora";
    private static final float EPS = 1e-5f;
    private final int r;
    private final float alpha;
    private final Parameter a, b, lower, upper;
    private final float[] block, ranknum;
    private final Map<String, String> methodConfig;

    /** h = xd·Aᵀ [T × r] and g = h·Cᵀ [T × r], saved for backward. */
    private record Saved(InputDropout drop, float[] h, float[] g) implements TrainableAdapter.Saved {}

    /** Storage rank {@code rank}; the first {@code initRank} components form block 0; parameters zero. */
    public TriAdaptLoraAdapter(int inFeatures, int outFeatures, int rank, int initRank, float alpha, float dropout,
                               Map<String, String> methodConfig) {
        if (inFeatures <= 0 || outFeatures <= 0 || rank <= 0) {
            throw new IllegalArgumentException(METHOD + ": shape and rank must be positive, got IC=" + inFeatures
                    + " OC=" + outFeatures + " rank=" + rank);
        }
        if (initRank < 1 || initRank > rank) {
            throw new IllegalArgumentException(METHOD + ": init_r must be in [1, rank=" + rank + "], got " + initRank);
        }
        LoraConfig.checkAlpha(METHOD, alpha);
        super(METHOD, inFeatures, outFeatures, dropout);
        this.r = rank;
        this.alpha = alpha;
        this.a = Parameter.zeros("lora_A", r, IC);
        this.b = Parameter.zeros("lora_B", OC, r);
        this.lower = Parameter.zeros("lora_C_lower", r, r);
        this.upper = Parameter.zeros("lora_C_upper", r, r);
        this.block = new float[r];
        for (int k = 0; k < r; k++) {
            block[k] = k < initRank ? 0 : -1;
        }
        this.ranknum = new float[] {initRank};
        this.methodConfig = new LinkedHashMap<>(methodConfig);
    }

    /** A, B ~ N(0, 0.02²) over the whole storage (so grown blocks find theirs drawn), C = 0. */
    public TriAdaptLoraAdapter init(SplittableRandom rnd) {
        for (Parameter p : List.of(a, b)) {
            float[] v = p.value();
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (0.02 * Router.gaussian(rnd));
            }
        }
        java.util.Arrays.fill(lower.value(), 0f);
        java.util.Arrays.fill(upper.value(), 0f);
        return this;
    }

    /** Components in use. */
    public int activeRank() {
        return Math.round(ranknum[0]);
    }

    /** Storage (maximum) rank. */
    public int maxRank() {
        return r;
    }

    /** Number of blocks grown so far (the initial one included). */
    public int blocks() {
        int n = 0;
        for (float v : block) {
            n = Math.max(n, (int) v + 1);
        }
        return n;
    }

    /**
     * Adds a block of min(add, free storage) components after the active ones, returns how many. Their A rows and B
     * columns keep the values drawn at init; their C entries are 0 until trained, so B·C·A is unchanged.
     */
    public int grow(int add) {
        int from = activeRank(), to = Math.min(r, from + add);
        int id = blocks();
        for (int k = from; k < to; k++) {
            block[k] = id;
        }
        ranknum[0] = to;
        return to - from;
    }

    /** Whether L may hold entry (j, k): both components in use and k's block ≤ j's block. */
    boolean inLower(int j, int k) {
        return block[j] >= 0 && block[k] >= 0 && block[k] <= block[j];
    }

    /** Whether U may hold entry (j, k): both components in use and j's block ≤ k's block. */
    boolean inUpper(int j, int k) {
        return block[j] >= 0 && block[k] >= 0 && block[j] <= block[k];
    }

    /** C [r × r] = L ⊙ mask_L + U ⊙ mask_U: zero outside the active square. */
    public float[] transform() {
        float[] c = new float[r * r];
        float[] l = lower.value(), u = upper.value();
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < r; k++) {
                int i = j * r + k;
                c[i] = (inLower(j, k) ? l[i] : 0f) + (inUpper(j, k) ? u[i] : 0f);
            }
        }
        return c;
    }

    public float scale() {
        return alpha / (ranknum[0] + EPS);
    }

    @Override
    public String method() {
        return METHOD;
    }

    public Parameter loraA() {
        return a;
    }

    public Parameter loraB() {
        return b;
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(a, lower, upper, b);
    }

    @Override
    public Map<String, float[]> buffers() {
        var m = new LinkedHashMap<String, float[]>();
        m.put("rank_block", block);
        m.put("ranknum", ranknum);
        return m;
    }

    @Override
    public Map<String, String> config() {
        var m = commonConfig(r, alpha);
        m.putAll(methodConfig);
        return m;
    }

    /** h = xd·Aᵀ; g = h·Cᵀ; y += s·g·Bᵀ. */
    @Override
    Saved run(InputDropout drop, int T, float[] y) {
        float[] h = new float[T * r], g = new float[T * r];
        SmallMatmul.abt(h, drop.xd(), a.value(), T, r, IC);
        SmallMatmul.abt(g, h, transform(), T, r, r);
        SmallMatmul.abtAcc(y, scale(), g, b.value(), T, OC, r);
        return new Saved(drop, h, g);
    }

    /**
     * dB += s·dyᵀ·g;  dg = s·dy·B;  dC = dgᵀ·h, split into dL = dC ⊙ mask_L and dU = dC ⊙ mask_U (the diagonal blocks
     * feed both);  dh = dg·C;  dA += dhᵀ·xd;  dx += drop'(dh·A). Components not in use get zero gradients because
     * their rows and columns of C are 0.
     */
    @Override
    public void backward(float[] x, int T, float[] dy, TrainableAdapter.Saved saved, float[] dx) {
        if (!(saved instanceof Saved sv)) {
            throw new IllegalArgumentException(METHOD + " backward needs the state its own forwardTrain returned, got "
                    + saved);
        }
        float s = scale();
        SmallMatmul.atbAcc(b.grad(), s, dy, sv.g(), T, OC, r);
        float[] dg = new float[T * r];
        SmallMatmul.ab(dg, s, dy, b.value(), T, r, OC, false);
        float[] dc = new float[r * r];
        SmallMatmul.atbAcc(dc, 1f, dg, sv.h(), T, r, r);
        float[] dl = lower.grad(), du = upper.grad();
        for (int j = 0; j < r; j++) {
            for (int k = 0; k < r; k++) {
                int i = j * r + k;
                if (inLower(j, k)) {
                    dl[i] += dc[i];
                }
                if (inUpper(j, k)) {
                    du[i] += dc[i];
                }
            }
        }
        float[] dh = new float[T * r];
        SmallMatmul.ab(dh, 1f, dg, transform(), T, r, r, false);
        float[] xd = sv.drop().xd();
        SmallMatmul.atbAcc(a.grad(), 1f, dh, xd, T, r, IC);
        if (dx != null) {
            float[] dxd = new float[T * IC];
            SmallMatmul.ab(dxd, 1f, dh, a.value(), T, IC, r, false);
            sv.drop().backward(dxd, dx);
        }
    }

    /**
     * The same update as a plain LoRA of the k components in use, with this adapter's alpha: B' = (B·C)[:, :k],
     * A' = (s·k/alpha)·A[:k], so that (alpha/k)·B'·A' = ΔW. What PEFT and GGUF files hold for this method (the
     * rank-adaptive methods' {@link RankMaskedAdapter#toLora} convention: one alpha for every module).
     */
    public LoraAdapter toLora() {
        int k = activeRank();
        var lora = new LoraAdapter(IC, OC, k, alpha, dropout, false);
        float[] bc = new float[OC * r];
        SmallMatmul.ab(bc, 1f, b.value(), transform(), OC, r, r, false);
        float c = scale() * k / alpha;
        float[] la = lora.loraA().value(), lb = lora.loraB().value();
        for (int j = 0; j < k; j++) {
            for (int i = 0; i < IC; i++) {
                la[j * IC + i] = c * a.value()[j * IC + i];
            }
            for (int o = 0; o < OC; o++) {
                lb[o * k + j] = bc[o * r + j];
            }
        }
        return lora;
    }

    /** w [OC × IC] += s·B·C·A. */
    @Override
    public void mergeInto(float[] w) {
        MergeTarget.check(w, OC, IC);
        float[] bc = new float[OC * r];
        SmallMatmul.ab(bc, 1f, b.value(), transform(), OC, r, r, false);
        SmallMatmul.ab(w, scale(), bc, a.value(), OC, IC, r, true);
    }
}

package dev.jlora.engine.adapter;

import java.util.Map;

/**
 * Float64 references of the adapter variants' Δ(x) [T × OC] for x [T × IC], written straight from the papers'
 * formulas with plain loops (no code shared with the fp32 classes). Parameters and frozen tensors are passed by the
 * adapters' own names so that the gradient check can perturb any of them.
 */
final class VariantRefs {
    private VariantRefs() {}

    /** A Δ(x) as a function of the input and the named tensors. */
    interface Ref {
        double[] delta(double[] x, int T, Map<String, double[]> p);
    }

    /** c = a·bᵀ, a [M×K], b [N×K]. */
    static double[] abt(double[] a, double[] b, int M, int N, int K) {
        double[] c = new double[M * N];
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int k = 0; k < K; k++) {
                    s += a[i * K + k] * b[j * K + k];
                }
                c[i * N + j] = s;
            }
        }
        return c;
    }

    /** LoRA: s·(x·Aᵀ)·Bᵀ. */
    static Ref lora(int IC, int OC, int r, double s) {
        return (x, T, p) -> {
            double[] u = abt(abt(x, p.get("lora_A"), T, r, IC), p.get("lora_B"), T, OC, r);
            for (int i = 0; i < u.length; i++) {
                u[i] *= s;
            }
            return u;
        };
    }

    /** LoRA-SB: x·Aᵀ·Rᵀ·Bᵀ (ΔW = B·R·A, no scale). */
    static Ref loraSb(int IC, int OC, int r) {
        return (x, T, p) -> abt(abt(abt(x, p.get("lora_A"), T, r, IC), p.get("lora_R"), T, r, r), p.get("lora_B"), T, OC, r);
    }

    /** Row norms of W + s·B·A [OC × IC]. */
    static double[] doraNorms(double[] w, double[] a, double[] b, int IC, int OC, int r, double s) {
        double[] n = new double[OC];
        for (int o = 0; o < OC; o++) {
            double ss = 0;
            for (int i = 0; i < IC; i++) {
                double v = w[o * IC + i];
                for (int j = 0; j < r; j++) {
                    v += s * b[o * r + j] * a[j * IC + i];
                }
                ss += v * v;
            }
            n[o] = Math.sqrt(ss);
        }
        return n;
    }

    /**
     * DoRA: x·W'ᵀ − x·Wᵀ with W' = m ⊙ (W + s·B·A)/n. With {@code fixedNorm} non-null, n is that constant (the
     * detached norm of PEFT and §4.3): finite differences of this function are the gradients DoRA's backward gives.
     */
    static Ref dora(double[] w, int IC, int OC, int r, double s, double[] fixedNorm) {
        return (x, T, p) -> {
            double[] a = p.get("lora_A"), b = p.get("lora_B"), m = p.get("lora_magnitude_vector");
            double[] n = fixedNorm != null ? fixedNorm : doraNorms(w, a, b, IC, OC, r, s);
            double[] wp = new double[OC * IC];
            for (int o = 0; o < OC; o++) {
                for (int i = 0; i < IC; i++) {
                    double v = w[o * IC + i];
                    for (int j = 0; j < r; j++) {
                        v += s * b[o * r + j] * a[j * IC + i];
                    }
                    wp[o * IC + i] = m[o] * v / n[o] - w[o * IC + i];
                }
            }
            return abt(x, wp, T, OC, IC);
        };
    }

    /** VeRA: b ⊙ (B·(d ⊙ (A·x))) with frozen A [r × IC], B [OC × r]. */
    static Ref vera(double[] a, double[] b, int IC, int OC, int r) {
        return (x, T, p) -> {
            double[] d = p.get("vera_lambda_d"), bv = p.get("vera_lambda_b");
            double[] h = abt(x, a, T, r, IC);
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < r; j++) {
                    h[t * r + j] *= d[j];
                }
            }
            double[] u = abt(h, b, T, OC, r);
            for (int t = 0; t < T; t++) {
                for (int o = 0; o < OC; o++) {
                    u[t * OC + o] *= bv[o];
                }
            }
            return u;
        };
    }

    /** NOLA: LoRA with A = Σ α_i A_i, B = Σ β_j B_j. */
    static Ref nola(double[] basesA, double[] basesB, int k, int l, int IC, int OC, int r, double s) {
        return (x, T, p) -> {
            double[] al = p.get("nola_alpha"), be = p.get("nola_beta");
            double[] a = new double[r * IC], b = new double[OC * r];
            for (int i = 0; i < k; i++) {
                for (int e = 0; e < a.length; e++) {
                    a[e] += al[i] * basesA[i * a.length + e];
                }
            }
            for (int j = 0; j < l; j++) {
                for (int e = 0; e < b.length; e++) {
                    b[e] += be[j] * basesB[j * b.length + e];
                }
            }
            return lora(IC, OC, r, s).delta(x, T, Map.of("lora_A", a, "lora_B", b));
        };
    }

    /** LoLDU as a delta on the original W: Lp·diag(σ·z − z₀)·U applied to x. */
    static Ref loldu(int IC, int OC, int r) {
        return (x, T, p) -> {
            double[] lp = p.get("loldu_L"), u = p.get("loldu_U"), z = p.get("loldu_diag"), z0 = p.get("loldu_diag_init");
            double sigma = p.get("loldu_scale")[0];
            double[] h = abt(x, u, T, r, IC);
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < r; j++) {
                    h[t * r + j] *= sigma * z[j] - z0[j];
                }
            }
            return abt(h, lp, T, OC, r);
        };
    }

    /** Bone: the dense ΔW[o, i] = b[i mod r, o], applied to x. */
    static Ref bone(int IC, int OC, int r) {
        return (x, T, p) -> {
            double[] b = p.get("bone_block");
            double[] dw = new double[OC * IC];
            for (int o = 0; o < OC; o++) {
                for (int i = 0; i < IC; i++) {
                    dw[o * IC + i] = b[(i % r) * OC + o];
                }
            }
            return abt(x, dw, T, OC, IC);
        };
    }

    /**
     * MoRA (sharing): explicit compression C [r̂ × IC] (C[j, i] counts padded positions p ≡ j (mod r̂) whose source
     * is i, the padding repeating x's first elements) and decompression D [OC × r̂] (D[o, o mod r̂] = 1);
     * Δ(x) = D·M·C·x.
     */
    static Ref mora(int IC, int OC, int rHat) {
        int padded = (IC + rHat - 1) / rHat * rHat;
        double[] c = new double[rHat * IC];
        for (int q = 0; q < padded; q++) {
            c[(q % rHat) * IC + (q < IC ? q : q - IC)] += 1;
        }
        double[] d = new double[OC * rHat];
        for (int o = 0; o < OC; o++) {
            d[o * rHat + o % rHat] = 1;
        }
        return (x, T, p) -> {
            double[] xs = abt(x, c, T, rHat, IC);
            double[] z = abt(xs, p.get("mora_M"), T, rHat, rHat);
            return abt(z, d, T, OC, rHat);
        };
    }

    /** RandLoRA: s·Σ_b B_b·diag(λ_b)·A_b·diag(γ_b) applied to x, with the layer's slices a [n×r×IC], b [n×OC×r]. */
    static Ref randLora(double[] a, double[] b, int n, int IC, int OC, int r, double s) {
        return (x, T, p) -> {
            double[] lam = p.get("randlora_lambda"), gam = p.get("randlora_gamma");
            double[] dw = new double[OC * IC];
            for (int k = 0; k < n; k++) {
                for (int o = 0; o < OC; o++) {
                    for (int i = 0; i < IC; i++) {
                        double acc = 0;
                        for (int j = 0; j < r; j++) {
                            acc += b[k * OC * r + o * r + j] * lam[k * r + j] * a[k * r * IC + j * IC + i];
                        }
                        dw[o * IC + i] += s * acc * gam[k * IC + i];
                    }
                }
            }
            return abt(x, dw, T, OC, IC);
        };
    }

    /** Applies a dense ΔW [OC × IC] to x [T × IC]. */
    static double[] applyDense(double[] dw, double[] x, int T, int OC, int IC) {
        return abt(x, dw, T, OC, IC);
    }

    /** FLoRA (2-D Tucker): ΔW[o, i] = s·Σ_ab G[a, b]·P_in[i, a]·P_out[o, b], the core multiplied along both modes. */
    static double[] floraDelta(Map<String, double[]> p, int IC, int OC, int r, double s) {
        double[] g = p.get("flora_core"), pin = p.get("flora_in"), pout = p.get("flora_out");
        double[] dw = new double[OC * IC];
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                double acc = 0;
                for (int a = 0; a < r; a++) {
                    for (int b = 0; b < r; b++) {
                        acc += g[a * r + b] * pin[i * r + a] * pout[o * r + b];
                    }
                }
                dw[o * IC + i] = s * acc;
            }
        }
        return dw;
    }

    static Ref flora(int IC, int OC, int r, double s) {
        return (x, T, p) -> applyDense(floraDelta(p, IC, OC, r, s), x, T, OC, IC);
    }

    /** Bone "bat": ΔW_ij = W_ij·b_i + b_i over the r×r blocks of W [OC × IC], b [OC/r × r × r]. */
    static double[] boneBatDelta(double[] w, double[] b, int IC, int OC, int r) {
        double[] dw = new double[OC * IC];
        for (int i = 0; i < OC / r; i++) {
            for (int j = 0; j < IC / r; j++) {
                for (int p = 0; p < r; p++) {
                    for (int q = 0; q < r; q++) {
                        double acc = b[i * r * r + p * r + q];
                        for (int k = 0; k < r; k++) {
                            acc += w[(i * r + p) * IC + j * r + k] * b[i * r * r + k * r + q];
                        }
                        dw[(i * r + p) * IC + j * r + q] = acc;
                    }
                }
            }
        }
        return dw;
    }

    static Ref boneBat(double[] w, int IC, int OC, int r) {
        return (x, T, p) -> applyDense(boneBatDelta(w, p.get("bone_block"), IC, OC, r), x, T, OC, IC);
    }

    /**
     * MoRA with RoPE compression (the authors' type 6): pad x by its first elements to G groups of r̂, rotate group g
     * by the angles g·10000^(−2(k mod h)/r̂) over the pairs (k, k + h), h = r̂/2, apply M to each group, concatenate,
     * cut to L = min(G·r̂, OC) and repeat to OC.
     */
    static Ref moraRope(int IC, int OC, int rHat) {
        int padded = (IC + rHat - 1) / rHat * rHat, groups = padded / rHat, h = rHat / 2;
        int period = Math.min(padded, OC);
        return (x, T, p) -> {
            double[] m = p.get("mora_M");
            double[] y = new double[T * OC];
            for (int t = 0; t < T; t++) {
                double[] flat = new double[padded];
                for (int g = 0; g < groups; g++) {
                    double[] v = new double[rHat], c = new double[rHat];
                    for (int k = 0; k < rHat; k++) {
                        int q = g * rHat + k;
                        v[k] = x[t * IC + (q < IC ? q : q - IC)];
                    }
                    for (int k = 0; k < rHat; k++) {
                        double angle = g / Math.pow(10000, 2.0 * (k % h) / rHat);
                        double rot = k < h ? -v[k + h] : v[k - h];
                        c[k] = v[k] * Math.cos(angle) + rot * Math.sin(angle);
                    }
                    for (int a = 0; a < rHat; a++) {
                        double acc = 0;
                        for (int k = 0; k < rHat; k++) {
                            acc += m[a * rHat + k] * c[k];
                        }
                        flat[g * rHat + a] = acc;
                    }
                }
                for (int o = 0; o < OC; o++) {
                    y[t * OC + o] = flat[o % period];
                }
            }
            return y;
        };
    }

    /** s·((x·Aᵀ) ⊙ d)·Bᵀ: SoRA (d = sora_gate) and KaSA's ΔU·diag(ΔΣ)·ΔVᵀ (d = lora_diag). */
    static Ref diagonalLowRank(int IC, int OC, int r, double s, String diagName) {
        return (x, T, p) -> {
            double[] h = abt(x, p.get("lora_A"), T, r, IC), g = p.get(diagName);
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < r; j++) {
                    h[t * r + j] *= s * g[j];
                }
            }
            return abt(h, p.get("lora_B"), T, OC, r);
        };
    }

    /** KaSA on the original weights: the trained s·B·diag(d)·A minus the removed U_s·Σ_s·V_sᵀ. */
    static Ref kasaOnOriginal(int IC, int OC, int r, double s) {
        Ref trained = diagonalLowRank(IC, OC, r, s, "lora_diag");
        return (x, T, p) -> {
            double[] y = trained.delta(x, T, p);
            double[] u = p.get("kasa_removed_U"), sv = p.get("kasa_removed_S"), vt = p.get("kasa_removed_Vt");
            double[] h = abt(x, vt, T, r, IC);
            for (int t = 0; t < T; t++) {
                for (int j = 0; j < r; j++) {
                    h[t * r + j] *= sv[j];
                }
            }
            double[] removed = abt(h, u, T, OC, r);
            for (int i = 0; i < y.length; i++) {
                y[i] -= removed[i];
            }
            return y;
        };
    }

    /**
     * SALT: ΔW = U·(ReLU(Σ') − Σ)·Vᵀ with Σ' = blockdiag(diag(α ⊙ σ_top + β), diag(σ_rest) + X·Y), the ReLU
     * elementwise; U [OC × k], σ [k], Vᵀ [k × IC] frozen.
     */
    static double[] saltDelta(Map<String, double[]> p, double[] u, double[] sigma, double[] vt, int IC, int OC, int k,
                              int r, int rl) {
        double[] al = p.get("salt_scale"), be = p.get("salt_shift"), x = p.get("salt_X"), y = p.get("salt_Y");
        int K = k - r;
        double[] d = new double[k * k];
        for (int j = 0; j < r; j++) {
            d[j * k + j] = Math.max(0, al[j] * sigma[j] + be[j]) - sigma[j];
        }
        for (int a = 0; a < K; a++) {
            for (int b = 0; b < K; b++) {
                double z = a == b ? sigma[r + a] : 0;
                for (int l = 0; l < rl; l++) {
                    z += x[a * rl + l] * y[l * K + b];
                }
                d[(r + a) * k + r + b] = Math.max(0, z) - (a == b ? sigma[r + a] : 0);
            }
        }
        double[] dw = new double[OC * IC];
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < IC; i++) {
                double acc = 0;
                for (int a = 0; a < k; a++) {
                    for (int b = 0; b < k; b++) {
                        acc += u[o * k + a] * d[a * k + b] * vt[b * IC + i];
                    }
                }
                dw[o * IC + i] = acc;
            }
        }
        return dw;
    }

    static Ref salt(double[] u, double[] sigma, double[] vt, int IC, int OC, int k, int r, int rl) {
        return (x, T, p) -> applyDense(saltDelta(p, u, sigma, vt, IC, OC, k, r, rl), x, T, OC, IC);
    }
}

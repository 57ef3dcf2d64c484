package dev.jlora.engine.adapter;

import static dev.jlora.engine.adapter.VariantRefs.abt;

import java.util.Map;

/**
 * Float64 references of Hydra's and MoS's Δ(x) [T × OC], in the style of {@link VariantRefs}: plain loops straight
 * from the papers' formulas, no code shared with the fp32 classes, tensors passed by the adapters' own names.
 */
final class HydraMosRefs {
    private HydraMosRefs() {}

    /** Hydra: s·B_p·A_p·x + s·B_s·A_s·(W·x), W [OC × IC] the frozen base. */
    static VariantRefs.Ref hydra(double[] w, int IC, int OC, int r, double s) {
        return (x, T, p) -> {
            double[] base = abt(x, w, T, OC, IC);
            double[] par = abt(abt(x, p.get("hydra_par_A"), T, r, IC), p.get("hydra_par_B"), T, OC, r);
            double[] seq = abt(abt(base, p.get("hydra_seq_A"), T, r, OC), p.get("hydra_seq_B"), T, OC, r);
            double[] u = new double[T * OC];
            for (int i = 0; i < u.length; i++) {
                u[i] = s * (par[i] + seq[i]);
            }
            return u;
        };
    }

    /**
     * MoS: LoRA with A's row j = shards routeA[j·l … j·l + l − 1] end to end and B's column j likewise from routeB,
     * each cut to IC (OC); a route entry ≥ 0 is a row of the public pool {@code publicA}/{@code publicB}, −1 − p row p
     * of the layer's private shards.
     */
    static VariantRefs.Ref mos(String publicA, String publicB, int[] routeA, int[] routeB, int IC, int OC, int r, int l,
                               double s) {
        int lenA = (IC + l - 1) / l, lenB = (OC + l - 1) / l;
        return (x, T, p) -> {
            double[] a = new double[r * IC], b = new double[OC * r];
            for (int j = 0; j < r; j++) {
                for (int k = 0; k < l; k++) {
                    int ra = routeA[j * l + k], rb = routeB[j * l + k];
                    double[] srcA = ra >= 0 ? p.get(publicA) : p.get("mos_private_A");
                    double[] srcB = rb >= 0 ? p.get(publicB) : p.get("mos_private_B");
                    int rowA = ra >= 0 ? ra : -1 - ra, rowB = rb >= 0 ? rb : -1 - rb;
                    for (int e = 0; e < lenA && k * lenA + e < IC; e++) {
                        a[j * IC + k * lenA + e] = srcA[rowA * lenA + e];
                    }
                    for (int e = 0; e < lenB && k * lenB + e < OC; e++) {
                        b[(k * lenB + e) * r + j] = srcB[rowB * lenB + e];
                    }
                }
            }
            double[] u = abt(abt(x, a, T, r, IC), b, T, OC, r);
            for (int i = 0; i < u.length; i++) {
                u[i] *= s;
            }
            return u;
        };
    }
}

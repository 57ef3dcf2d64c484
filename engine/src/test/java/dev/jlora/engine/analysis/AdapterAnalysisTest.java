package dev.jlora.engine.analysis;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.engine.adapter.LoraAdapter;
import dev.jlora.engine.adapter.Target;
import dev.jlora.engine.ref.F32Matrix;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;

/**
 * {@link AdapterAnalysis} on a hand-built module: W = diag(12, 11, …, 1) (its left singular vectors are the unit
 * vectors eᵢ) and a rank-3 LoRA ΔW = 30·y·e₁₂ᵀ + 4·u₂·e₁₁ᵀ + 2·u₃·e₁₀ᵀ with y, u₂, u₃ orthonormal, so σ(ΔW) =
 * (30, 4, 2) exactly. y = (1, …, 1)/√12 is as far from every eᵢ as a vector can be (|cos| = 1/√12 ≈ 0.29) and
 * dominates W + ΔW (30 > 12): the planted intruder. u₂ = (e₁ − e₂)/√2 and u₃ = (e₁ + e₂ − 2e₃)/√6 stay close to
 * W's top directions.
 */
class AdapterAnalysisTest {
    static final int N = 12;

    static F32Matrix diagonalWeight() {
        float[] w = new float[N * N];
        for (int i = 0; i < N; i++) {
            w[i * N + i] = N - i;
        }
        return new F32Matrix(N, N, w);
    }

    /** The LoRA above (alpha = r, so s = 1); {@code intruderScale} multiplies the planted unit (0 removes it). */
    static LoraAdapter plantedLora(double intruderScale) {
        var lora = new LoraAdapter(N, N, 3, 3f, 0f, false);
        double[][] cols = new double[3][N];
        for (int o = 0; o < N; o++) {
            cols[0][o] = intruderScale * 30 / Math.sqrt(N);
        }
        cols[1][0] = 4 / Math.sqrt(2);
        cols[1][1] = -4 / Math.sqrt(2);
        cols[2][0] = 2 / Math.sqrt(6);
        cols[2][1] = 2 / Math.sqrt(6);
        cols[2][2] = -4 / Math.sqrt(6);
        float[] b = lora.loraB().value(), a = lora.loraA().value();
        for (int j = 0; j < 3; j++) {
            for (int o = 0; o < N; o++) {
                b[o * 3 + j] = (float) cols[j][o];
            }
            a[j * N + (N - 1 - j)] = 1;   // rows e₁₂, e₁₁, e₁₀
        }
        return lora;
    }

    @Test
    void knownSpectrumGivesItsRanksAndNorm() {
        var m = AdapterAnalysis.analyzeModule(0, Target.Q, plantedLora(1), diagonalWeight(), AdapterAnalysis.Options.DEFAULT);
        // float32 factors: σ known to ~1e-6 relative
        assertArrayEquals(new double[] {30, 4, 2}, m.singularValues(), 30 * 1e-6);
        double[] p = {30 / 36.0, 4 / 36.0, 2 / 36.0};   // Roy & Vetterli Def. 1, evaluated here by hand
        double h = -(p[0] * Math.log(p[0]) + p[1] * Math.log(p[1]) + p[2] * Math.log(p[2]));
        assertEquals(Math.exp(h), m.effectiveRank(), 1e-5);
        assertEquals(1, m.energyRank90(), "900 of 920 is above 90%");
        assertEquals(2, AdapterAnalysis.energyRank(m.singularValues(), 0.99), "916 of 920 is the first above 99%");
        assertEquals(Math.sqrt(920.0 / 650.0), m.relativeNorm(), 1e-6, "‖ΔW‖² = 920, ‖W‖² = Σ i² = 650");
        // the defining extremes: a flat spectrum has effective rank n, a single value 1
        assertEquals(5, AdapterAnalysis.effectiveRank(new double[] {2, 2, 2, 2, 2}), 1e-12);
        assertEquals(1, AdapterAnalysis.effectiveRank(new double[] {3, 0, 0}), 1e-12);
    }

    @Test
    void plantedIntruderIsFoundAndOnlyIt() {
        var opt = new AdapterAnalysis.Options(3, 0.5, 1024);
        var m = AdapterAnalysis.analyzeModule(0, Target.Q, plantedLora(1), diagonalWeight(), opt);
        assertEquals(1, m.intruders(), "the y direction, and not the two close to e₁, e₂");
        assertEquals(3, m.intruderK());
        var without = AdapterAnalysis.analyzeModule(0, Target.Q, plantedLora(0), diagonalWeight(), opt);
        assertEquals(0, without.intruders(), "without the planted unit nothing intrudes");
        // W's singular vectors are a basis of ℝ¹², so every unit vector has some |cos| ≥ 1/√12: no intruder below that
        var low = new AdapterAnalysis.Options(N, 0.99 / Math.sqrt(N), 1024);
        assertEquals(0, AdapterAnalysis.analyzeModule(0, Target.Q, plantedLora(1), diagonalWeight(), low).intruders());
        var skipped = AdapterAnalysis.analyzeModule(0, Target.Q, plantedLora(1), diagonalWeight(), new AdapterAnalysis.Options(3, 0.5, 8));
        assertEquals(-1, skipped.intruders(), "min(OC, IC) = 12 > limit 8");
    }

    @Test
    void reportHasARowPerModuleAndAPlottableSvg() throws Exception {
        var opt = new AdapterAnalysis.Options(3, 0.5, 1024);
        var modules = List.of(
                AdapterAnalysis.analyzeModule(0, Target.Q, plantedLora(1), diagonalWeight(), opt),
                AdapterAnalysis.analyzeModule(1, Target.V, plantedLora(0), diagonalWeight(), opt));
        String md = SpectrumReport.markdown("analysis of x", modules, opt);
        assertTrue(md.contains("| 0 | q_proj | lora | 3 | 30.0, 4.00, 2.00 |"), md);
        assertTrue(md.contains("| 1 | v_proj | lora | 2 | 4.00, 2.00, 0.00 |"), md);   // rank 2: the third σ is 0
        assertTrue(md.contains("| 1 / 3 |") && md.contains("| 0 / 3 |"), md);
        String svg = SpectrumReport.svg("spectra <x>", modules);
        var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
        var lines = doc.getElementsByTagName("polyline");
        int spectra = 0;
        for (int i = 0; i < lines.getLength(); i++) {
            spectra += "spectrum".equals(lines.item(i).getAttributes().getNamedItem("class").getNodeValue()) ? 1 : 0;
        }
        assertEquals(2, spectra, svg);
    }
}

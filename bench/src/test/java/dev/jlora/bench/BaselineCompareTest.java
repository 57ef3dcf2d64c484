package dev.jlora.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.bench.BaselineCompare.Machine;
import dev.jlora.bench.BaselineCompare.Verdict;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The comparison logic of {@code scripts/bench.sh regress} on fixture JMH files (nothing is timed here). The fixtures
 * are hand-made in JMH's JSON shape: baseline.json (machine "Test CPU", 512-bit), run.json, rerun.json.
 */
class BaselineCompareTest {
    static final Machine SAME = new Machine("Test CPU @ 2.6GHz", 512, 4, "25.0.4");

    static Path fixture(String name) throws URISyntaxException {
        return Path.of(BaselineCompareTest.class.getResource("/baseline/" + name).toURI());
    }

    static Map<String, Verdict> verdicts(BaselineCompare.Report r) {
        return r.rows().stream().collect(Collectors.toMap(BaselineCompare.Row::key, BaselineCompare.Row::verdict));
    }

    @Test
    void ratiosAreSpeedBaselineOverNowForTimeAndNowOverBaselineForThroughput() throws Exception {
        var baseline = BaselineCompare.readBaseline(fixture("baseline.json"));
        var run = BaselineCompare.parseJmh(dev.jlora.engine.io.Json.read(fixture("run.json")), "run.json");
        var rows = BaselineCompare.compare(baseline, SAME, run, null, 0.10).rows().stream()
                .collect(Collectors.toMap(BaselineCompare.Row::key, r -> r));
        assertEquals(10.0 / 14.0, rows.get("MatmulBench.jlora shape=512x768x768 [avgt]").speedRatio(), 1e-12);
        assertEquals(0.7, rows.get("FmaPeakBench.oneThread [thrpt]").speedRatio(), 1e-12);
        assertEquals(600.0 / 610.0, rows.get("DotBench.panama n=4096 [avgt]").speedRatio(), 1e-12);
        // noise of a ratio: relative 99.9 % errors in quadrature (5 % and 3.57 %)
        assertEquals(Math.hypot(0.05, 0.5 / 14), rows.get("MatmulBench.jlora shape=512x768x768 [avgt]").noise(), 1e-12);
    }

    @Test
    void slowdownsBeyondThresholdAndNoiseAreSuspectsOthersAreNot() throws Exception {
        var baseline = BaselineCompare.readBaseline(fixture("baseline.json"));
        var run = BaselineCompare.parseJmh(dev.jlora.engine.io.Json.read(fixture("run.json")), "run.json");
        var v = verdicts(BaselineCompare.compare(baseline, SAME, run, null, 0.10));
        assertEquals(Verdict.UNCHANGED, v.get("DotBench.panama n=4096 [avgt]"), "1.6 % slower: within threshold");
        assertEquals(Verdict.SUSPECT, v.get("MatmulBench.jlora shape=512x768x768 [avgt]"), "40 % slower, noise 6 %");
        assertEquals(Verdict.SUSPECT, v.get("FmaPeakBench.oneThread [thrpt]"), "43 % slower in throughput");
        assertEquals(Verdict.UNCHANGED, v.get("QuantMatvecBenchmark.fused n=4096, type=Q4_0 [avgt]"),
                "30 % slower but the errors (50 %, 46 %) make that noise");
        assertEquals(Verdict.NEW, v.get("MatmulBench.openblas shape=512x768x768 [avgt]"));
        assertEquals(Verdict.MISSING, v.get("DotBench.scalar n=4096 [avgt]"));
        // a looser threshold lets the 40 % slowdown through, not the 43 % one
        var loose = verdicts(BaselineCompare.compare(baseline, SAME, run, null, 0.41));
        assertEquals(Verdict.UNCHANGED, loose.get("MatmulBench.jlora shape=512x768x768 [avgt]"));
        assertEquals(Verdict.SUSPECT, loose.get("FmaPeakBench.oneThread [thrpt]"));
    }

    @Test
    void onlySuspectsSlowAgainInTheRerunAreRegressions() throws Exception {
        var baseline = BaselineCompare.readBaseline(fixture("baseline.json"));
        var run = BaselineCompare.parseJmh(dev.jlora.engine.io.Json.read(fixture("run.json")), "run.json");
        var rerun = BaselineCompare.parseJmh(dev.jlora.engine.io.Json.read(fixture("rerun.json")), "rerun.json");
        var v = verdicts(BaselineCompare.compare(baseline, SAME, run, rerun, 0.10));
        assertEquals(Verdict.REGRESSION, v.get("MatmulBench.jlora shape=512x768x768 [avgt]"), "14.2 ms again");
        assertEquals(Verdict.NOISE_RERUN_OK, v.get("FmaPeakBench.oneThread [thrpt]"), "990 ops/us in the re-run");
    }

    @Test
    void aBaselineOfAnotherCpuOrVectorWidthIsRefused() throws Exception {
        var baseline = BaselineCompare.readBaseline(fixture("baseline.json"));
        var run = BaselineCompare.parseJmh(dev.jlora.engine.io.Json.read(fixture("run.json")), "run.json");
        var e = assertThrows(IllegalArgumentException.class, () -> BaselineCompare.compare(baseline,
                new Machine("Other CPU", 512, 2, "25"), run, null, 0.1));
        assertTrue(e.getMessage().contains("Test CPU @ 2.6GHz") && e.getMessage().contains("Other CPU"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> BaselineCompare.compare(baseline,
                new Machine("Test CPU @ 2.6GHz", 256, 2, "25"), run, null, 0.1));
    }

    @Test
    void commandLineWritesSuspectPatternsAndExitCodes(@TempDir Path dir) throws Exception {
        Path suspects = dir.resolve("suspects.txt");
        var out = new ByteArrayOutputStream();
        int code = BaselineCompare.run(new String[] {"compare", fixture("baseline.json").toString(),
                fixture("run.json").toString(), "--suspects", suspects.toString()}, SAME, new PrintStream(out, true));
        assertEquals(1, code, "suspects not re-run fail the comparison");
        assertEquals(List.of("dev\\.jlora\\.bench\\.MatmulBench\\.jlora$", "dev\\.jlora\\.bench\\.FmaPeakBench\\.oneThread$"),
                Files.readAllLines(suspects));
        String table = out.toString(StandardCharsets.UTF_8);
        assertTrue(table.contains("| MatmulBench.jlora shape=512x768x768 [avgt] | 10.00 | 14.00 | ms/op | 0.71 | 6 % | suspect |"),
                table);
        assertTrue(table.contains("0 regression(s), 2 suspect(s) not re-run, 0 faster, 2 unchanged, 1 new, 1 missing"),
                table);
    }

    @Test
    void recordWrapsARunWithThisMachineAndReadsBack(@TempDir Path dir) throws IOException, URISyntaxException {
        Path baseline = dir.resolve("b.json");
        int code = BaselineCompare.run(new String[] {"record", fixture("run.json").toString(), baseline.toString()},
                SAME, new PrintStream(new ByteArrayOutputStream()));
        assertEquals(0, code);
        var read = BaselineCompare.readBaseline(baseline);
        assertEquals(SAME, read.machine());
        assertEquals(5, read.scores().size());
        // compared with itself: every ratio is 1
        var report = BaselineCompare.compare(read, SAME, read.scores(), null, 0.0);
        assertTrue(report.rows().stream().allMatch(r -> r.speedRatio() == 1.0 && r.verdict() == Verdict.UNCHANGED));
    }

    @Test
    void baselineNameIsTheCpuModelAndVectorWidth() {
        assertEquals("test-cpu-2-6ghz-512bit", SAME.baselineName());
    }

    @Test
    void aFileThatIsNotJmhOutputIsNamed(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "{\"benchmark\": 1}");
        var e = assertThrows(IllegalArgumentException.class, () -> BaselineCompare.run(new String[] {"record",
                bad.toString(), dir.resolve("b.json").toString()}, SAME, System.out));
        assertTrue(e.getMessage().contains("bad.json") && e.getMessage().contains("JMH"), e.getMessage());
    }
}

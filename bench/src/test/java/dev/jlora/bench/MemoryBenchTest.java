package dev.jlora.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.bench.MemoryBench.Result;
import dev.jlora.quant.QuantType;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The parsing and reporting of {@link MemoryBench} on hand-written /proc status text and child output (nothing is
 * measured here: memory figures depend on the machine and the JVM).
 */
class MemoryBenchTest {
    static final MemoryBench.Load NO_LOAD = new MemoryBench.Load(0, 0, 0, 0, 0, 0, 0);
    static final String STATUS = """
            Name:\tjava
            VmPeak:\t 9876543 kB
            VmHWM:\t  812345 kB
            VmRSS:\t  800000 kB
            RssAnon:\t  500000 kB
            RssFile:\t  300000 kB
            Threads:\t25
            """;

    @Test
    void readsKibValuesOfProcStatus() {
        assertEquals(812345, MemoryBench.statusKib(STATUS, "VmHWM"));
        assertEquals(300000, MemoryBench.statusKib(STATUS, "RssFile"));
        // a key that is absent, or a line without the kB unit, is named in the exception
        var missing = assertThrows(IllegalArgumentException.class, () -> MemoryBench.statusKib(STATUS, "VmSwap"));
        assertTrue(missing.getMessage().contains("VmSwap"), missing.getMessage());
        var unitless = assertThrows(IllegalArgumentException.class, () -> MemoryBench.statusKib(STATUS, "Threads"));
        assertTrue(unitless.getMessage().contains("kB"), unitless.getMessage());
    }

    @Test
    void resultLineRoundTripsAndNamesBadFields() {
        var r = new Result("train-NF4", 812345, 500000, 300000, 1L << 30, 50L << 20, 123456789, new MemoryBench.Load(7, 6, 5, 4, 3, 2, 1));
        assertEquals(r, Result.parse(r.line()));
        var missing = assertThrows(IllegalArgumentException.class,
                () -> Result.parse(MemoryBench.RESULT_PREFIX + "config=x hwm_kib=1"));
        assertTrue(missing.getMessage().contains("rss_anon_kib"), missing.getMessage());
        var notNumber = assertThrows(IllegalArgumentException.class,
                () -> Result.parse(r.line().replace("hwm_kib=812345", "hwm_kib=lots")));
        assertTrue(notNumber.getMessage().contains("hwm_kib"), notNumber.getMessage());
    }

    @Test
    void childOutputGivesItsResultLineOrFailsWithTheOutput() {
        var r = new Result("infer-Q4_0", 400000, 300000, 100000, 200L << 20, 40L << 20, 70_000_000, NO_LOAD);
        String output = "WARNING: Using incubator modules: jdk.incubator.vector\n" + r.line() + "\n";
        assertEquals(r, MemoryBench.resultOf("infer-Q4_0", 0, output));
        var failed = assertThrows(IllegalStateException.class,
                () -> MemoryBench.resultOf("infer-Q4_0", 1, "java.lang.OutOfMemoryError: Java heap space\n"));
        assertTrue(failed.getMessage().contains("OutOfMemoryError") && failed.getMessage().contains("exited with 1"),
                failed.getMessage());
        assertThrows(IllegalStateException.class, () -> MemoryBench.resultOf("infer-Q4_0", 0, "no result\n"));
    }

    @Test
    void tableGivesRatiosAgainstTheF32RunOfTheSameMode() {
        List<Result> results = List.of(
                new Result("infer-F32", 1024 * 1000, 0, 0, 400L << 20, 0, 0, NO_LOAD),
                new Result("infer-NF4", 1024 * 300, 0, 0, 100L << 20, 0, 0, NO_LOAD),
                new Result("train-F32", 1024 * 2000, 0, 0, 800L << 20, 0, 0, NO_LOAD),
                new Result("train-NF4", 1024 * 1000, 0, 0, 800L << 20, 0, 0, NO_LOAD));
        String table = MemoryBench.table(results);
        assertTrue(table.contains("| infer-NF4 | 0 | 300 | 30 % | 0 / 0 | 100 | 25 % |"), table);
        assertTrue(table.contains("| train-NF4 | 0 | 1000 | 50 % | 0 / 0 | 800 | 100 % |"), table);
        assertTrue(table.contains("| train-F32 | 0 | 2000 | 100 % |"), table);
    }

    @Test
    void configurationsNameTheirStoredFormat() {
        assertEquals(QuantType.F32, MemoryBench.storedType("train-NF4"));
        assertEquals(QuantType.Q4_0, MemoryBench.storedType("infer-Q4_0"));
        assertThrows(IllegalArgumentException.class, () -> MemoryBench.storedType("serve-F32"));
        assertThrows(IllegalArgumentException.class, () -> MemoryBench.storedType("infer-Q8_0"));
    }

    @Test
    void loadTableSumsHeapOffHeapAndMappedAgainstTheFp32Weights() {
        long mib = 1L << 20;
        List<Result> results = List.of(
                new Result("infer-F32", 0, 0, 0, 0, 0, 512 * mib,
                        new MemoryBench.Load(4 * mib, 6 * mib, 30 * mib, 5 * mib, 0, 512 * mib, 512 * mib)),
                new Result("infer-NF4", 0, 0, 0, 0, 0, 130 * mib,
                        new MemoryBench.Load(4 * mib, 56 * mib, 90 * mib, 20 * mib, 50 * mib, 4 * mib, 2 * mib)));
        String table = MemoryBench.loadTable(results);
        // NF4: peak (4 + 56) + 50 + 4 = 114 MiB = 22 % of 512 (G1's pool peak is shown, not summed); after the load
        // 20 + 50 + 2 = 72 MiB = 14 %
        assertTrue(table.contains("| infer-NF4 | 4 + 56 | 90 | 20 | 50 | 4 / 2 | 114 | 22 % | 72 | 14 % |"), table);
        assertTrue(table.contains("| infer-F32 | 4 + 6 | 30 | 5 | 0 | 512 / 512 | 522 | 102 % | 517 | 101 % |"), table);
    }

    @Test
    void mappedResidentBytesCountOnlyTheModelFilesMappings() {
        String smaps = """
                7f0000000000-7f0000100000 r--s 00000000 08:01 1234                       /models/m.gguf
                Size:               1024 kB
                Rss:                 400 kB
                AnonHugePages:         0 kB
                7f0000100000-7f0000200000 rw-p 00000000 00:00 0
                Rss:                 900 kB
                7f0000200000-7f0000300000 r--s 00100000 08:01 1234                       /models/m.gguf
                Rss:                  24 kB
                VmFlags: rd sh mr mw me ms sd
                7f0000300000-7f0000400000 r--p 00000000 08:01 99                         /models/m.gguf.bak
                Rss:                 500 kB
                """;
        assertEquals((400 + 24) * 1024L, MemoryBench.mappedResidentBytes(smaps, "/models/m.gguf"));
    }
}

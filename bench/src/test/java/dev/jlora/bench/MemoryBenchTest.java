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
        var r = new Result("train-NF4", 812345, 500000, 300000, 1L << 30, 50L << 20, 123456789);
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
        var r = new Result("infer-Q4_0", 400000, 300000, 100000, 200L << 20, 40L << 20, 70_000_000);
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
                new Result("infer-F32", 1024 * 1000, 0, 0, 400L << 20, 0, 0),
                new Result("infer-NF4", 1024 * 300, 0, 0, 100L << 20, 0, 0),
                new Result("train-F32", 1024 * 2000, 0, 0, 800L << 20, 0, 0),
                new Result("train-NF4", 1024 * 1000, 0, 0, 800L << 20, 0, 0));
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
}

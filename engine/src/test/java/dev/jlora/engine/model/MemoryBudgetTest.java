package dev.jlora.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class MemoryBudgetTest {
    @Test
    void parsesSizesInPowersOf1024() {
        assertEquals(512L << 20, MemoryBudget.parse("512M").bytes());
        assertEquals(8L << 30, MemoryBudget.parse("8g").bytes());
        assertEquals(3L << 29, MemoryBudget.parse("1.5GiB").bytes());
        assertEquals(64L << 10, MemoryBudget.parse("64k").bytes());
        assertEquals(1234, MemoryBudget.parse("1234").bytes());
        for (String bad : new String[] {"", "lots", "-1G", "0", "8X", "1e9"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> MemoryBudget.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("--max-memory"), e.getMessage());
        }
    }

    @Test
    void requireNamesWhatDidNotFitAndWhatWasLeft() {
        var b = MemoryBudget.parse("1M");
        b.require("x", 1 << 19, 1 << 19, "hint");   // exactly full is fine
        var e = assertThrows(MemoryBudget.ExceededException.class,
                () -> b.require("the KV cache of 4096 positions", 600 << 10, 512 << 10, "use a smaller --ctx"));
        assertEquals("--max-memory 1.00 MiB: the KV cache of 4096 positions need 600.00 KiB but only 512.00 KiB is "
                + "left; use a smaller --ctx", e.getMessage());
        MemoryBudget.UNLIMITED.require("anything", Long.MAX_VALUE, Long.MAX_VALUE, "never thrown");
        assertThrows(MemoryBudget.ExceededException.class, () -> b.require("y", Long.MAX_VALUE, 1, "overflow-safe"));
    }
}

package dev.jlora.simd;

import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class VectorOpsProviderTest {

    @Test
    void providerHonoursScalarSetting() {
        assertSame(ScalarOps.INSTANCE, VectorOpsProvider.choose("scalar").ops());
        assertThrows(IllegalArgumentException.class, () -> VectorOpsProvider.choose("avx9000"));
        var auto = VectorOpsProvider.choose("auto");
        boolean moduleThere = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        if (moduleThere) {
            assertSame(PanamaOps.INSTANCE, auto.ops(), auto.reason());
        } else {
            assertSame(ScalarOps.INSTANCE, auto.ops());
            assertTrue(auto.reason().contains("jdk.incubator.vector"), auto.reason());
        }
    }

    @Test
    void getReturnsTheLoggedChoice() {
        assertSame(VectorOpsProvider.choice().ops(), VectorOps.get());
    }
}

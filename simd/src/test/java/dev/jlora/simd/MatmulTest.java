package dev.jlora.simd;

import static dev.jlora.simd.testing.Approx.assertClose;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.simd.testing.Rand;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * Every Matmul form against its {@code ...Ref} triple loop, on odd shapes that cut the micro-tile (6 rows × 2
 * vectors), the reduction block (KC = 256) and the column block. Tolerance per element: the two sum the same K
 * products in different orders, so they differ by at most 2·K·ulp(1)·Σ_k|a·b| (Higham ch. 3 bound, both sides).
 */
class MatmulTest {
    static final double ULP1 = Math.ulp(1f);

    static float[] abs(float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = Math.abs(a[i]);
        }
        return r;
    }

    static void assertWithin(float[] want, float[] got, float[] absProducts, int K, String what) {
        for (int i = 0; i < want.length; i++) {
            int at = i;
            assertClose(want[i], got[i], 2.0 * Math.max(K, 1) * ULP1 * absProducts[i] + 1e-30, 0,
                    () -> what + " [" + at + "] of " + want.length);
        }
    }

    static MemorySegment segment(Arena arena, float[] v, long byteOff) {
        MemorySegment seg = arena.allocate(byteOff + 4L * v.length);
        for (int i = 0; i < v.length; i++) {
            seg.set(ScalarOps.F32_LE, byteOff + 4L * i, v[i]);
        }
        return seg;
    }

    @ParameterizedTest(name = "M={0} K={1} N={2}")
    @CsvSource({"1,1,1", "1,768,33", "2,5,3", "3,17,5", "4,9,7", "6,32,32", "7,300,65", "33,65,31",
            "130,257,67", "97,513,129", "12,1,40",
            // Empty products: C is zeroed (overwrite forms) or left as it is (accumulate).
            "0,5,7", "9,0,7", "9,5,0",
            // Several column chunks (a packed chunk holds 2^20 floats: 512 columns at K = 2048, 224 at K = 4100).
            "7,2048,600", "11,4100,300",
            // A reduction so long that a chunk would be narrower than 512 columns: split into KC-multiple blocks.
            "6,40000,40"})
    void allFormsMatchReference(int M, int K, int N) {
        var rnd = new SplittableRandom(31L * M + 17L * K + N);
        float[] A = Rand.floats(rnd, M * K), B = Rand.floats(rnd, N * K), Bkn = Rand.floats(rnd, K * N);
        String shape = "M=" + M + " K=" + K + " N=" + N;

        float[] want = new float[M * N], bound = new float[M * N];
        Matmul.matmulABtRef(want, A, B, M, K, N);
        Matmul.matmulABtRef(bound, abs(A), abs(B), M, K, N);
        float[] got = Rand.floats(rnd, M * N);   // garbage: the form must overwrite
        Matmul.matmulABt(got, A, B, M, K, N);
        assertWithin(want, got, bound, K, "matmulABt " + shape);
        float[] loops = Rand.floats(rnd, M * N);
        Matmul.abtDots(ScalarOps.INSTANCE, loops, A, B, M, K, N);
        assertWithin(want, loops, bound, K, "matmulABt scalar path " + shape);
        // C += A·Bᵀ from a random C.
        float[] cStart = Rand.floats(rnd, M * N), wantAcc = cStart.clone(), boundAcc = abs(cStart);
        Matmul.matmulABtAccumulateRef(wantAcc, A, B, M, K, N);
        Matmul.matmulABtAccumulateRef(boundAcc, abs(A), abs(B), M, K, N);
        float[] gotAcc = cStart.clone();
        Matmul.matmulABtAccumulate(gotAcc, A, B, M, K, N);
        assertWithin(wantAcc, gotAcc, boundAcc, K + 1, "matmulABtAccumulate " + shape);
        gotAcc = cStart.clone();
        Matmul.abtAccumulateLoops(gotAcc, A, B, M, K, N);
        assertWithin(wantAcc, gotAcc, boundAcc, K + 1, "matmulABtAccumulate loop path " + shape);
        try (var arena = Arena.ofShared()) {   // the pool's threads read it
            long off = 12;
            MemorySegment seg = segment(arena, B, off);
            float[] viaSeg = Rand.floats(rnd, M * N);
            Matmul.matmulABt(viaSeg, A, seg, off, M, K, N);
            assertWithin(want, viaSeg, bound, K, "matmulABt(segment) " + shape);
            Matmul.abtDots(ScalarOps.INSTANCE, viaSeg, A, seg, off, M, K, N);
            assertWithin(want, viaSeg, bound, K, "matmulABt(segment) scalar path " + shape);
        }

        Matmul.matmulABRef(want, A, Bkn, M, K, N);
        Matmul.matmulABRef(bound, abs(A), abs(Bkn), M, K, N);
        got = Rand.floats(rnd, M * N);
        Matmul.matmulAB(got, A, Bkn, M, K, N);
        assertWithin(want, got, bound, K, "matmulAB " + shape);
        got = Rand.floats(rnd, M * N);
        Matmul.abAxpys(ScalarOps.INSTANCE, got, A, Bkn, M, K, N);
        assertWithin(want, got, bound, K, "matmulAB scalar path " + shape);

        float[] abStart = Rand.floats(rnd, M * N), wantAB = abStart.clone(), boundAB = abs(abStart);
        for (int i = 0; i < wantAB.length; i++) {
            wantAB[i] += want[i];
            boundAB[i] += bound[i];
        }
        float[] gotAB = abStart.clone();
        Matmul.matmulABAccumulate(gotAB, A, Bkn, M, K, N);
        assertWithin(wantAB, gotAB, boundAB, K + 1, "matmulABAccumulate " + shape);
        gotAB = abStart.clone();
        Matmul.abAxpysAccumulate(ScalarOps.INSTANCE, gotAB, A, Bkn, M, K, N);
        assertWithin(wantAB, gotAB, boundAB, K + 1, "matmulABAccumulate scalar path " + shape);

        // C[K×N] += Aᵀ·B with B [M×N]: start from a random C to check that it accumulates.
        float[] Bmn = Rand.floats(rnd, M * N), c0 = Rand.floats(rnd, K * N);
        float[] wantT = c0.clone(), boundT = abs(c0);
        Matmul.matmulAtBAccumulateRef(wantT, A, Bmn, M, K, N);
        Matmul.matmulAtBAccumulateRef(boundT, abs(A), abs(Bmn), M, K, N);
        float[] gotT = c0.clone();
        Matmul.matmulAtBAccumulate(gotT, A, Bmn, M, K, N);
        assertWithin(wantT, gotT, boundT, M + 1, "matmulAtBAccumulate " + shape);
        gotT = c0.clone();
        Matmul.atbAxpys(ScalarOps.INSTANCE, gotT, A, Bmn, M, K, N);
        assertWithin(wantT, gotT, boundT, M + 1, "matmulAtBAccumulate scalar path " + shape);
    }

    /**
     * A {@link RowReader} over a row-major array that fails the test when it is asked for a column range that
     * breaks its alignment (a block format could not decode it).
     */
    static RowReader arrayRows(float[] B, int cols, int align) {
        return new RowReader() {
            @Override public void read(int row, int col0, int n, float[] dst, int dstOff) {
                if (col0 % align != 0 || (n % align != 0 && col0 + n != cols) || col0 + n > cols) {
                    throw new AssertionError("unaligned read of row " + row + ": [" + col0 + ", " + (col0 + n)
                            + ") with alignment " + align + " and " + cols + " columns");
                }
                System.arraycopy(B, row * cols + col0, dst, dstOff, n);
            }

            @Override public int columnAlign() {
                return align;
            }
        };
    }

    /**
     * The RowReader forms (a frozen weight read through its decoder) against their references and the array
     * forms, with readers of alignment 1, 8 and 64: odd shapes, tails shorter than a panel, several column chunks
     * (2^20 packed floats: 512 columns at K = 2048), chunk boundaries that are not multiples of the alignment, and
     * a split reduction (K = 40000).
     * Same order-of-summation bound as above.
     */
    @ParameterizedTest(name = "M={0} K={1} N={2} align={3}")
    @CsvSource({"1,64,8,8", "3,17,5,1", "4,64,128,64", "5,64,192,64", "7,300,65,1", "33,64,640,64",
            "130,257,67,1", "97,512,136,8", "13,2048,640,64", "9,2050,600,1", "0,64,64,64", "9,64,0,64",
            "6,40000,40,64"})
    void rowReaderFormsMatchReference(int M, int K, int N, int align) {
        var rnd = new SplittableRandom(7L * M + 5L * K + 3L * N + align);
        String shape = "M=" + M + " K=" + K + " N=" + N + " align=" + align;
        // ABt: B is [N×K], rows of K read whole or, for a split reduction, in KC-multiple blocks.
        float[] A = Rand.floats(rnd, M * K), Bnk = Rand.floats(rnd, N * K);
        float[] want = new float[M * N], bound = new float[M * N];
        Matmul.matmulABtRef(want, A, Bnk, M, K, N);
        Matmul.matmulABtRef(bound, abs(A), abs(Bnk), M, K, N);
        float[] ref = Rand.floats(rnd, M * N);
        Matmul.matmulABtRef(ref, A, arrayRows(Bnk, K, align), M, K, N);
        assertWithin(want, ref, bound, K, "matmulABtRef(rows) " + shape);
        float[] got = Rand.floats(rnd, M * N);
        Matmul.matmulABt(got, A, arrayRows(Bnk, K, align), M, K, N);
        assertWithin(want, got, bound, K, "matmulABt(rows) " + shape);
        got = Rand.floats(rnd, M * N);
        Matmul.abtDots(ScalarOps.INSTANCE, got, A, arrayRows(Bnk, K, align), M, K, N);
        assertWithin(want, got, bound, K, "matmulABt(rows) scalar path " + shape);

        // AB accumulate: B is [K×N], rows of N read in aligned column ranges; C starts random.
        float[] Bkn = Rand.floats(rnd, K * N), c0 = Rand.floats(rnd, M * N);
        float[] wantAcc = c0.clone(), boundAcc = abs(c0);
        Matmul.matmulABRef(want, A, Bkn, M, K, N);
        Matmul.matmulABRef(bound, abs(A), abs(Bkn), M, K, N);
        for (int i = 0; i < wantAcc.length; i++) {
            wantAcc[i] += want[i];
            boundAcc[i] += bound[i];
        }
        float[] refAcc = c0.clone();
        Matmul.matmulABAccumulateRef(refAcc, A, arrayRows(Bkn, N, align), M, K, N);
        assertWithin(wantAcc, refAcc, boundAcc, K + 1, "matmulABAccumulateRef(rows) " + shape);
        float[] gotAcc = c0.clone();
        Matmul.matmulABAccumulate(gotAcc, A, arrayRows(Bkn, N, align), M, K, N);
        assertWithin(wantAcc, gotAcc, boundAcc, K + 1, "matmulABAccumulate(rows) " + shape);
        gotAcc = c0.clone();
        Matmul.abAxpysAccumulate(ScalarOps.INSTANCE, gotAcc, A, arrayRows(Bkn, N, align), M, K, N);
        assertWithin(wantAcc, gotAcc, boundAcc, K + 1, "matmulABAccumulate(rows) scalar path " + shape);
    }

    /** Packed-B buffers are per calling thread and reused: concurrent and nested calls must not share one. */
    @Test
    void concurrentAndNestedCallsDoNotShareBuffers() throws Exception {
        int M = 40, K = 300, N = 70, calls = 6;
        var rnd = new SplittableRandom(99);
        float[][] A = new float[calls][], B = new float[calls][], want = new float[calls][];
        for (int c = 0; c < calls; c++) {
            A[c] = Rand.floats(rnd, M * K);
            B[c] = Rand.floats(rnd, N * K);
            want[c] = new float[M * N];
            Matmul.matmulABtRef(want[c], A[c], B[c], M, K, N);
        }
        float[][] nested = new float[calls][M * N];
        Parallel.parallelFor(calls, c -> Matmul.matmulABt(nested[c], A[c], B[c], M, K, N));
        float[][] threads = new float[calls][M * N];
        var pool = java.util.concurrent.Executors.newFixedThreadPool(3);
        try {
            var futures = new java.util.ArrayList<java.util.concurrent.Future<?>>();
            for (int c = 0; c < calls; c++) {
                int fc = c;
                futures.add(pool.submit(() -> Matmul.matmulABt(threads[fc], A[fc], B[fc], M, K, N)));
            }
            for (var f : futures) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        for (int c = 0; c < calls; c++) {
            float[] bound = new float[M * N];
            Matmul.matmulABtRef(bound, abs(A[c]), abs(B[c]), M, K, N);
            assertWithin(want[c], nested[c], bound, K, "nested call " + c);
            assertWithin(want[c], threads[c], bound, K, "concurrent call " + c);
        }
    }

    @Test
    void referenceIsTheDefinition() {
        // 2×3 · (2×3)ᵀ by hand.
        float[] A = {1, 2, 3, 4, 5, 6}, B = {1, 0, -1, 2, 1, 0}, C = new float[4];
        Matmul.matmulABtRef(C, A, B, 2, 3, 2);
        assertClose(new float[] {-2, 4, -2, 13}, C, 0, 0, () -> "ABt by hand");
        float[] Ckn = {10, 20, 30, 40, 50, 60};   // [3×2] += Aᵀ[3×2]·I... with B = [[1,0],[0,1]]
        Matmul.matmulAtBAccumulateRef(Ckn, A, new float[] {1, 0, 0, 1}, 2, 3, 2);
        assertClose(new float[] {11, 24, 32, 45, 53, 66}, Ckn, 0, 0, () -> "AtB by hand");
    }

    @Test
    void wrongSizesAreRejectedBeforeAnyWork() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Matmul.matmulABt(new float[6], new float[6], new float[5], 2, 3, 2));
        assertTrue(e.getMessage().contains("B needs 6"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Matmul.matmulAB(new float[3], new float[6], new float[6], 2, 3, 2));
        try (var arena = Arena.ofConfined()) {
            var seg = arena.allocate(20);
            assertThrows(IllegalArgumentException.class,
                    () -> Matmul.matmulABt(new float[4], new float[6], seg, 0, 2, 3, 2));
        }
    }
}

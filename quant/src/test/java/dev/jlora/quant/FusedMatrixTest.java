package dev.jlora.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlora.quant.testing.RandomBlocks;
import dev.jlora.quant.testing.RandomBlocks.Kind;
import dev.jlora.simd.testing.Approx;
import dev.jlora.simd.testing.Rand;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Fused dequantize + matmul (Vector API and scalar twins) against dequantize-then-matmul in double, on odd shapes
 * (rows not a multiple of the tile; T on every path, see {@link #TOKENS}) and boundary blocks.
 */
class FusedMatrixTest {

    static final int[] ROWS = {1, 7, 37};
    /** T = 1 (fused dots), 3 and 17 (tiles), then the backward's packed GEMM alone, then both packed GEMMs. */
    static final int[] TOKENS = {1, 2, 3, 6, 9, 17, FusedMatrix.GEMM_MIN_T_BACKWARD + 1, FusedMatrix.GEMM_MIN_T + 1};

    /** Columns: two or three blocks (odd counts for the element formats) so chunking and tails are exercised. */
    static int colsFor(QuantType t) {
        return switch (t.blockSize()) {
            case 1 -> 45;
            case 32 -> 96;
            case 64 -> 192;
            default -> 512;
        };
    }

    static FusedMatrix matrix(QuantType t, int rows, int cols, Kind kind, SplittableRandom rnd) {
        if (t == QuantType.NF4) {
            float[] w = Rand.gaussians(rnd, rows * cols, 0, 0.05f);
            if (kind == Kind.ZERO) {
                w = new float[rows * cols];
            }
            return (FusedMatrix) t.quantize(w, rows, cols);
        }
        MemorySegment data = RandomBlocks.of(t, rnd, rows * cols, kind);
        return (FusedMatrix) t.wrap(data, rows, cols);
    }

    /**
     * y [T × rows] against x·wᵀ summed in double: a float sum of cols products in any order is within
     * cols·ulp(1)·Σ|w·x| (+1 rounding per scale).
     */
    static void assertForwardMatchesDouble(double[][] w, float[] x, int T, float[] y, String what) {
        int rows = w.length, cols = w[0].length;
        for (int tt = 0; tt < T; tt++) {
            for (int o = 0; o < rows; o++) {
                double ref = 0, abs = 0;
                for (int i = 0; i < cols; i++) {
                    ref += w[o][i] * x[tt * cols + i];
                    abs += Math.abs(w[o][i] * x[tt * cols + i]);
                }
                int idx = tt * rows + o;
                Approx.assertClose(ref, y[idx], (cols + 2) * Math.ulp(1f) * abs, 0, () -> what + "[" + idx + "]");
            }
        }
    }

    static double[][] dense(FusedMatrix m) {
        double[][] w = new double[m.rows()][m.cols()];
        float[] row = new float[m.cols()];
        for (int o = 0; o < m.rows(); o++) {
            m.dequantizeRowRef(o, row, 0);
            for (int i = 0; i < m.cols(); i++) w[o][i] = row[i];
        }
        return w;
    }

    @ParameterizedTest
    @EnumSource(QuantType.class)
    void forwardAndBackwardMatchDoubleReference(QuantType t) {
        int cols = colsFor(t);
        for (Kind kind : Kind.values()) {
            for (int rows : ROWS) {
                var rnd = new SplittableRandom(rows * 1000L + t.ordinal() * 10L + kind.ordinal());
                FusedMatrix m = matrix(t, rows, cols, kind, rnd);
                double[][] w = dense(m);
                float[] row = new float[cols];
                m.dequantizeRow(rows - 1, row, 0);
                for (int i = 0; i < cols; i++) {
                    assertEquals(w[rows - 1][i], row[i], 0, t + " dequantizeRow vs Ref at " + i);
                }
                for (int T : TOKENS) {
                    String ctx = t + " " + kind + " [" + rows + "×" + cols + "] T=" + T;
                    float[] x = Rand.floats(rnd, T * cols, -1, 1);
                    float[] dy = Rand.floats(rnd, T * rows, -1, 1);
                    float[] y = new float[T * rows], yRef = new float[T * rows];
                    m.matmul(x, T, y);
                    m.matmulRef(x, T, yRef);
                    assertForwardMatchesDouble(w, x, T, y, ctx + " y");
                    assertForwardMatchesDouble(w, x, T, yRef, ctx + " yRef");
                    float[] dx0 = Rand.floats(rnd, T * cols, -1, 1);
                    float[] dx = dx0.clone(), dxRef = dx0.clone();
                    m.matmulBackwardInput(dy, T, dx);
                    m.matmulBackwardInputRef(dy, T, dxRef);
                    for (int tt = 0; tt < T; tt++) {
                        for (int i = 0; i < cols; i++) {
                            double ref = dx0[tt * cols + i], abs = Math.abs(ref);
                            for (int o = 0; o < rows; o++) {
                                ref += dy[tt * rows + o] * w[o][i];
                                abs += Math.abs(dy[tt * rows + o] * w[o][i]);
                            }
                            double tol = (rows + 2) * Math.ulp(1f) * abs;
                            int idx = tt * cols + i;
                            Approx.assertClose(ref, dx[idx], tol, 0, () -> ctx + " dx[" + idx + "]");
                            Approx.assertClose(ref, dxRef[idx], tol, 0, () -> ctx + " dxRef[" + idx + "]");
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = QuantType.class, names = {"Q8_0", "Q4_K", "NF4", "F16"})
    void forwardSplitsLongRowsIntoTilesOfWholeRowsOrColumnChunks(QuantType t) {
        // 70 rows × 2304 columns: tiles of 28 whole rows (28, 28, then 14). 70 rows (a 64-row tile plus 6) × 8448
        // columns, too wide for 8 whole rows in a tile: more than one column chunk of 1024 floats, with a partial
        // last chunk. T = 7 rows of x (4 × 4 blocks, then three tokens left over); GEMM_MIN_T + 3 takes the packed
        // GEMM (rows decoded whole).
        var rnd = new SplittableRandom(9 + t.ordinal());
        int rows = 70;
        for (int cols : new int[] {2304, 8448}) {
            FusedMatrix m = matrix(t, rows, cols, Kind.RANDOM, rnd);
            double[][] w = dense(m);
            for (int T : new int[] {7, FusedMatrix.GEMM_MIN_T + 3}) {
                float[] x = Rand.floats(rnd, T * cols, -1, 1), y = new float[T * rows];
                m.matmul(x, T, y);
                assertForwardMatchesDouble(w, x, T, y, t + " cols=" + cols + " T=" + T + " y");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = QuantType.class, names = {"F32", "Q8_0", "Q4_K", "NF4"})
    void backwardSplitsIntoRowTilesColumnChunksAndTokenBlocks(QuantType t) {
        // 300 rows (two full 128-row tiles of the 4 ≤ T < GEMM_MIN_T_BACKWARD backward plus 44) × 1280 columns (two
        // 512-column chunks plus a partial one, a tail shorter than a vector for F32's odd width) × T = 7 (token
        // blocks with a < 4-row rest); GEMM_MIN_T_BACKWARD + 3 takes the packed GEMM, whose panel ranges start inside a block (columns
        // read from the block-aligned cover).
        var rnd = new SplittableRandom(21 + t.ordinal());
        int rows = 300, cols = t.blockSize() == 1 ? 1037 : 1280;
        FusedMatrix m = matrix(t, rows, cols, Kind.RANDOM, rnd);
        double[][] w = dense(m);
        for (int T : new int[] {7, FusedMatrix.GEMM_MIN_T_BACKWARD + 3}) {
            float[] dy = Rand.floats(rnd, T * rows, -1, 1);
            float[] dx0 = Rand.floats(rnd, T * cols, -1, 1), dx = dx0.clone();
            m.matmulBackwardInput(dy, T, dx);
            for (int tt = 0; tt < T; tt++) {
                for (int i = 0; i < cols; i++) {
                    double ref = dx0[tt * cols + i], abs = Math.abs(ref);
                    for (int o = 0; o < rows; o++) {
                        ref += dy[tt * rows + o] * w[o][i];
                        abs += Math.abs(dy[tt * rows + o] * w[o][i]);
                    }
                    int idx = tt * cols + i, fT = T;
                    Approx.assertClose(ref, dx[idx], (rows + 2) * Math.ulp(1f) * abs, 0,
                            () -> t + " T=" + fT + " dx[" + idx + "]");
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = QuantType.class, names = {"Q4_0", "Q8_0", "Q4_K", "Q6_K", "Q5_K", "Q4_1", "Q5_0", "Q5_1", "F16", "BF16", "NF4"})
    void quantizeFromMatrixEqualsQuantizeFromFloats(QuantType t) {
        var rnd = new SplittableRandom(5 + t.ordinal());
        int rows = 5, cols = 256;
        float[] w = Rand.gaussians(rnd, rows * cols, 0, 0.1f);
        QuantMatrix f32 = QuantType.F32.quantize(w, rows, cols);
        QuantMatrix a = t.quantize(w, rows, cols), b = t.quantize(f32);
        float[] ra = new float[cols], rb = new float[cols];
        for (int o = 0; o < rows; o++) {
            a.dequantizeRow(o, ra, 0);
            b.dequantizeRow(o, rb, 0);
            for (int i = 0; i < cols; i++) {
                assertEquals(Float.floatToIntBits(ra[i]), Float.floatToIntBits(rb[i]), t + " row " + o + " col " + i);
            }
        }
        assertEquals(t, a.type());
        assertEquals(rows, a.rows());
        assertEquals(cols, a.cols());
    }

    @org.junit.jupiter.api.Test
    void wrapRejectsWrongSizesWithClearMessages() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> QuantType.Q4_0.wrap(MemorySegment.ofArray(new byte[18 * 3]), 2, 32));
        assertTrue(e.getMessage().contains("needs 36 bytes"), e.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class,
                () -> QuantType.Q4_K.wrap(MemorySegment.ofArray(new byte[144]), 1, 100));
        assertTrue(e2.getMessage().contains("divisible by 256, got 100"), e2.getMessage());
        var e3 = assertThrows(IllegalArgumentException.class,
                () -> QuantType.Q8_0.quantize(new float[32], 2, 32));
        assertTrue(e3.getMessage().contains("needs 64 floats"), e3.getMessage());
        var m = QuantType.Q8_0.quantize(new float[64], 2, 32);
        var e4 = assertThrows(IllegalArgumentException.class, () -> m.matmul(new float[32], 2, new float[4]));
        assertTrue(e4.getMessage().contains("T=2"), e4.getMessage());
        assertThrows(UnsupportedOperationException.class,
                () -> QuantType.NF4.wrap(MemorySegment.ofArray(new byte[32]), 1, 64));
    }

    @org.junit.jupiter.api.Test
    void storageBytesCountTheBlocks() {
        var m = QuantType.Q4_K.quantize(new float[3 * 512], 3, 512);
        assertEquals(3 * 2 * 144, m.storageBytes());
    }

    @org.junit.jupiter.api.Test
    void tileKernelsSumInOneOrderInEveryJitTier() {
        // Bit-reproducible training runs its frozen weights' T > 1 forward through dot4x4/dot4x1: their results must
        // not change when C2 compiles them. Each is held bit for bit to a scalar twin of its summation order, first
        // interpreted and then after enough calls for C2.
        org.junit.jupiter.api.Assumptions.assumeTrue(VectorDecode.AVAILABLE, "needs the Vector API tile kernels (L = 8 or 16)");
        int L = PanamaQuant.lanes();
        var rnd = new SplittableRandom(77);
        for (int n : new int[] {45, 768}) {
            float[] w = Rand.floats(rnd, 4 * n + 3, -1, 1), x = Rand.floats(rnd, 4 * n + 5, -1, 1);
            float[] want4x4 = new float[16], want4x1 = new float[4];
            for (int k = 0; k < 16; k++) {
                want4x4[k] = fixedOrderDot(w, 3 + (k >> 2) * n, x, 5 + (k & 3) * n, n, L);
            }
            for (int k = 0; k < 4; k++) {
                want4x1[k] = fixedOrderDot(w, 3 + k * n, x, 5, n, L);
            }
            float[] lanes = new float[16 * L], out4x4 = new float[16], out4x1 = new float[4];
            for (int call = 0; call < 20_000; call++) {
                PanamaQuant.dot4x4(w, 3, n, x, 5, n, n, lanes, out4x4);
                PanamaQuant.dot4x1(w, 3, n, x, 5, n, lanes, out4x1);
                if (call % 2_000 == 0 || call == 19_999) {
                    int fn = n, fc = call;
                    assertTrue(java.util.Arrays.equals(want4x4, out4x4), () -> "dot4x4 n=" + fn + " call " + fc);
                    assertTrue(java.util.Arrays.equals(want4x1, out4x1), () -> "dot4x1 n=" + fn + " call " + fc);
                }
            }
        }
    }

    @org.junit.jupiter.api.Test
    void tokenPairKernelsSumInOneOrderInEveryJitTier() {
        // The same guarantee for the two-token kernels that batched decode and short training batches (2 ≤ T <
        // tokenPairsBelow()) run on: Q8_0, Q4_0, NF4 and Q4_K held bit for bit to scalar twins, interpreted and compiled.
        org.junit.jupiter.api.Assumptions.assumeTrue(VectorDecode.AVAILABLE, "needs the Vector API kernels (L = 8 or 16)");
        int L = PanamaQuant.lanes();
        var rnd = new SplittableRandom(78);
        for (QuantType t : L == 16 ? new QuantType[] {QuantType.Q8_0, QuantType.Q4_0} : new QuantType[] {QuantType.Q8_0}) {
            int rows = 8, cols = 96, nBlocks = cols / 32;
            long rowBytes = t.rowBytes(cols);
            var data = java.lang.foreign.Arena.ofAuto().allocate(rowBytes * rows);
            float[] dense = Rand.gaussians(rnd, rows * cols, 0, 1);
            for (int r = 0; r < rows; r++) {
                t.format().quantizeRowRef(dense, r * cols, data, r * rowBytes, cols);
            }
            float[] x = Rand.floats(rnd, 3 + 2 * cols, -1, 1);
            float[] want = new float[2 * rows];
            for (int tok = 0; tok < 2; tok++) {
                for (int r = 0; r < rows; r++) {
                    want[tok * rows + r] = pairKernelOrderDot(t, data, r * rowBytes, x, 3 + tok * cols, nBlocks, L);
                }
            }
            // runs of two rows in four streams two rows apart: rows 0–7, token 1 into y[rows..]
            float[] lanes = new float[8 * L], y = new float[2 * rows];
            for (int call = 0; call < 20_000; call++) {
                t.format().dot4Pair(data, 0, 2 * rowBytes, 2, x, 3, 3 + cols, cols, y, 0, rows, 2, lanes);
                if (call % 2_000 == 0 || call == 19_999) {
                    int fc = call;
                    assertTrue(java.util.Arrays.equals(want, y), () -> t + " call " + fc + ": " + java.util.Arrays.toString(y)
                            + " vs " + java.util.Arrays.toString(want));
                }
            }
        }
        if (L == 16) {   // NF4: the four-row kernel's rows a quarter apart, through the matrix
            int rows = 8, cols = 128;
            Nf4Matrix m = (Nf4Matrix) QuantType.NF4.quantize(Rand.gaussians(rnd, rows * cols, 0, 1), rows, cols);
            float[] x = Rand.floats(rnd, 2 * cols, -1, 1);
            float[] want = new float[2 * rows];
            for (int tok = 0; tok < 2; tok++) {
                for (int r = 0; r < rows; r++) {
                    want[tok * rows + r] = nf4PairOrderDot(m, r, x, tok * cols, L);
                }
            }
            float[] lanes = new float[8 * L], y = new float[2 * rows];
            for (int call = 0; call < 20_000; call++) {
                m.dotRows4Pair(0, 2, 2, x, 0, 1, y, lanes);
                if (call % 2_000 == 0 || call == 19_999) {
                    int fc = call;
                    assertTrue(java.util.Arrays.equals(want, y), () -> "NF4 call " + fc + ": " + java.util.Arrays.toString(y)
                            + " vs " + java.util.Arrays.toString(want));
                }
            }
        }
        // Q4_K: one row stream, rows in order
        int rows = 3, cols = 512;
        long rowBytes = QuantType.Q4_K.rowBytes(cols);
        var data = java.lang.foreign.Arena.ofAuto().allocate(rowBytes * rows);
        float[] dense = Rand.gaussians(rnd, rows * cols, 0, 1);
        for (int r = 0; r < rows; r++) {
            QuantType.Q4_K.format().quantizeRowRef(dense, r * cols, data, r * rowBytes, cols);
        }
        float[] x = Rand.floats(rnd, 3 + 2 * cols, -1, 1);
        float[] sums0 = PanamaQuant.sums32(x, 3, cols), sums1 = PanamaQuant.sums32(x, 3 + cols, cols);
        float[] want = new float[2 * rows];
        for (int r = 0; r < rows; r++) {
            want[r] = q4kPairOrderDot(data, r * rowBytes, x, 3, cols / 256, sums0, L);
            want[rows + r] = q4kPairOrderDot(data, r * rowBytes, x, 3 + cols, cols / 256, sums1, L);
        }
        float[] lanes = new float[2 * L], y = new float[2 * rows];
        for (int call = 0; call < 20_000; call++) {
            QuantType.Q4_K.format().dotPair(data, 0, rows, x, 3, 3 + cols, cols, sums0, sums1, y, 0, rows, lanes);
            if (call % 2_000 == 0 || call == 19_999) {
                int fc = call;
                assertTrue(java.util.Arrays.equals(want, y), () -> "Q4_K call " + fc + ": " + java.util.Arrays.toString(y)
                        + " vs " + java.util.Arrays.toString(want));
            }
        }
    }

    /** The order of the NF4 two-token kernel: {@link #pairKernelOrderDot}'s for 64-element blocks of NF4 levels. */
    private static float nf4PairOrderDot(Nf4Matrix m, int row, float[] x, int xOff, int L) {
        var codes = m.codes();
        int blocks = m.cols() / Nf4.BLOCK;
        float[] acc = new float[L];
        for (int k = 0; k < blocks; k++) {
            float[] blk = new float[L];
            for (int j = 0; j < 32; j += L) {
                for (int l = 0; l < L; l++) {
                    int q = codes.get(java.lang.foreign.ValueLayout.JAVA_BYTE, ((long) row * m.cols() + 64L * k) / 2 + j + l) & 0xFF;
                    int xi = xOff + 64 * k + j + l;
                    blk[l] = Math.fma(Nf4.CODE[q >>> 4], x[xi + 32], Math.fma(Nf4.CODE[q & 0x0F], x[xi], blk[l]));
                }
            }
            float s = m.absmax(row * blocks + k);
            for (int l = 0; l < L; l++) {
                acc[l] = Math.fma(blk[l], s, acc[l]);
            }
        }
        return sumLanesInOrder(acc, L);
    }

    /**
     * The order of the Q4_K two-token kernel: per pair of 32-element sub-blocks, lane l accumulates its low-nibble
     * and high-nibble products separately, each then joins its lane accumulator with the sub-block's scale; the two
     * accumulators are added lane by lane and summed as {@link #fixedOrderDot} does; the mins' term (a tree of four
     * pairs per block, summed over blocks in order) is subtracted last.
     */
    private static float q4kPairOrderDot(java.lang.foreign.MemorySegment data, long off, float[] x, int xOff, int nBlocks,
                                         float[] sums32, int L) {
        float[] accLo = new float[L], accHi = new float[L];
        float minSum = 0;
        for (int b = 0; b < nBlocks; b++, off += 144) {
            float d = Float.float16ToFloat(data.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, off));
            float dmin = Float.float16ToFloat(data.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, off + 2));
            float[] m = new float[8];
            for (int j = 0; j < 8; j++) {
                m[j] = KQuants.minK4(data, off + 4, j) * sums32[8 * b + j];
            }
            minSum += dmin * (((m[0] + m[1]) + (m[2] + m[3])) + ((m[4] + m[5]) + (m[6] + m[7])));
            for (int is = 0; is < 8; is += 2) {
                float[] lo = new float[L], hi = new float[L];
                for (int l0 = 0; l0 < 32; l0 += L) {
                    for (int l = 0; l < L; l++) {
                        int q = data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, off + 16 + 16L * is + l0 + l) & 0xFF;
                        int xi = xOff + 256 * b + 32 * is + l0 + l;
                        lo[l] = Math.fma(q & 0x0F, x[xi], lo[l]);
                        hi[l] = Math.fma(q >>> 4, x[xi + 32], hi[l]);
                    }
                }
                float sLo = d * KQuants.scaleK4(data, off + 4, is), sHi = d * KQuants.scaleK4(data, off + 4, is + 1);
                for (int l = 0; l < L; l++) {
                    accLo[l] = Math.fma(lo[l], sLo, accLo[l]);
                    accHi[l] = Math.fma(hi[l], sHi, accHi[l]);
                }
            }
        }
        float[] acc = new float[L];
        for (int l = 0; l < L; l++) {
            acc[l] = accLo[l] + accHi[l];
        }
        return sumLanesInOrder(acc, L) - minSum;
    }

    /**
     * The order of the two-token kernels: per block, lane l accumulates its elements (l, l + L, … of the block; for
     * Q4_0 the low nibble's element, then the high one's) with fused multiply-adds, then joins the row's lane
     * accumulator as a multiply-add with the block scale; the lanes are summed as {@link #fixedOrderDot} does.
     */
    private static float pairKernelOrderDot(QuantType t, java.lang.foreign.MemorySegment data, long off, float[] x, int xOff,
                                            int nBlocks, int L) {
        float[] acc = new float[L];
        for (int b = 0; b < nBlocks; b++) {
            long o = off + (long) t.bytesPerBlock() * b;
            float d = Float.float16ToFloat(data.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, o));
            float[] blk = new float[L];
            if (t == QuantType.Q8_0) {
                for (int j = 0; j < 32; j += L) {
                    for (int l = 0; l < L; l++) {
                        float w = data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, o + 2 + j + l);
                        blk[l] = Math.fma(w, x[xOff + 32 * b + j + l], blk[l]);
                    }
                }
            } else {
                for (int j = 0; j < 16; j += L) {
                    for (int l = 0; l < L; l++) {
                        int q = data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, o + 2 + j + l) & 0xFF;
                        float lo = (q & 0x0F) - 8, hi = (q >>> 4) - 8;
                        blk[l] = Math.fma(hi, x[xOff + 32 * b + 16 + j + l], Math.fma(lo, x[xOff + 32 * b + j + l], blk[l]));
                    }
                }
            }
            for (int l = 0; l < L; l++) {
                acc[l] = Math.fma(blk[l], d, acc[l]);
            }
        }
        return sumLanesInOrder(acc, L);
    }

    /**
     * The order of PanamaQuant's tile kernels: lane l accumulates the products of elements l, l + L, … with fused
     * multiply-adds, the lanes are summed as four interleaved partial sums and their pairs, then the tail in order.
     */
    private static float fixedOrderDot(float[] w, int wOff, float[] x, int xOff, int n, int L) {
        int bound = n / L * L;
        float[] acc = new float[L];
        for (int i = 0; i < bound; i += L) {
            for (int l = 0; l < L; l++) {
                acc[l] = Math.fma(w[wOff + i + l], x[xOff + i + l], acc[l]);
            }
        }
        float sum = sumLanesInOrder(acc, L);
        if (bound < n) {
            float tail = 0;
            for (int i = bound; i < n; i++) {
                tail += w[wOff + i] * x[xOff + i];
            }
            sum += tail;
        }
        return sum;
    }

    /** PanamaQuant's lane sum: four interleaved partial sums over the L lanes, then their pairs. */
    private static float sumLanesInOrder(float[] acc, int L) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int l = 0; l < L; l += 4) {
            s0 += acc[l];
            s1 += acc[l + 1];
            s2 += acc[l + 2];
            s3 += acc[l + 3];
        }
        return (s0 + s1) + (s2 + s3);
    }
}

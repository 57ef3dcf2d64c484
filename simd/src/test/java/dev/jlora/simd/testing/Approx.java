package dev.jlora.simd.testing;

import java.util.function.Supplier;
import org.opentest4j.AssertionFailedError;

/**
 * Mixed absolute/relative comparison, as llm.c's {@code validate_result}: a value passes when
 * {@code |ref − got| ≤ abs + rel·|ref|}. NaN passes only against NaN, an infinity only against the same infinity.
 */
public final class Approx {
    private Approx() {}

    /** Whether {@code got} is within {@code abs + rel·|ref|} of {@code ref}. */
    public static boolean close(double ref, double got, double abs, double rel) {
        if (Double.isNaN(ref) || Double.isNaN(got)) {
            return Double.isNaN(ref) && Double.isNaN(got);
        }
        if (Double.isInfinite(ref) || Double.isInfinite(got)) {
            return ref == got;
        }
        return Math.abs(ref - got) <= abs + rel * Math.abs(ref);
    }

    /** Fails unless {@code |ref − got| ≤ abs + rel·|ref|}; the message holds {@code ctx}, both values and the bound. */
    public static void assertClose(double ref, double got, double abs, double rel, Supplier<String> ctx) {
        if (!close(ref, got, abs, rel)) {
            throw new AssertionFailedError(String.format(
                    "%s: expected %s but got %s (|diff| = %.3e > abs %.3e + rel %.3e·|ref| = %.3e)",
                    ctx.get(), ref, got, Math.abs(ref - got), abs, rel, abs + rel * Math.abs(ref)), ref, got);
        }
    }

    /** {@link #assertClose(double, double, double, double, Supplier)} with a fixed context string. */
    public static void assertClose(double ref, double got, double abs, double rel, String ctx) {
        assertClose(ref, got, abs, rel, () -> ctx);
    }

    /** Element-wise over the first {@code n} entries; the message names the first bad index, both values and {@code n}. */
    public static void assertClose(float[] ref, float[] got, int n, double abs, double rel, Supplier<String> ctx) {
        checkLengths(ref.length, got.length, n, ctx);
        for (int i = 0; i < n; i++) {
            if (!close(ref[i], got[i], abs, rel)) {
                fail(ctx, i, n, ref[i], got[i], abs, rel, worst(i, n, j -> ref[j], j -> got[j]));
            }
        }
    }

    /** Element-wise over whole arrays of equal length. */
    public static void assertClose(float[] ref, float[] got, double abs, double rel, Supplier<String> ctx) {
        if (ref.length != got.length) {
            throw new AssertionFailedError(ctx.get() + ": length " + got.length + ", expected " + ref.length);
        }
        assertClose(ref, got, ref.length, abs, rel, ctx);
    }

    /** Element-wise, double reference against float result, over whole arrays of equal length. */
    public static void assertClose(double[] ref, float[] got, double abs, double rel, Supplier<String> ctx) {
        if (ref.length != got.length) {
            throw new AssertionFailedError(ctx.get() + ": length " + got.length + ", expected " + ref.length);
        }
        int n = ref.length;
        for (int i = 0; i < n; i++) {
            if (!close(ref[i], got[i], abs, rel)) {
                fail(ctx, i, n, ref[i], got[i], abs, rel, worst(i, n, j -> ref[j], j -> got[j]));
            }
        }
    }

    /** Element-wise over whole double arrays of equal length. */
    public static void assertClose(double[] ref, double[] got, double abs, double rel, Supplier<String> ctx) {
        if (ref.length != got.length) {
            throw new AssertionFailedError(ctx.get() + ": length " + got.length + ", expected " + ref.length);
        }
        int n = ref.length;
        for (int i = 0; i < n; i++) {
            if (!close(ref[i], got[i], abs, rel)) {
                fail(ctx, i, n, ref[i], got[i], abs, rel, worst(i, n, j -> ref[j], j -> got[j]));
            }
        }
    }

    private interface At {
        double at(int i);
    }

    private static String worst(int from, int n, At ref, At got) {
        int bad = 0, worstAt = from;
        double worstDiff = -1;
        for (int i = from; i < n; i++) {
            double d = Math.abs(ref.at(i) - got.at(i));
            if (!(d <= worstDiff)) {
                worstDiff = d;
                worstAt = i;
            }
            if (!(d == 0)) {
                bad++;
            }
        }
        return String.format("largest |diff| %.3e at [%d] (ref %s, got %s); %d entries differ from [%d] on",
                worstDiff, worstAt, ref.at(worstAt), got.at(worstAt), bad, from);
    }

    private static void checkLengths(int refLen, int gotLen, int n, Supplier<String> ctx) {
        if (refLen < n || gotLen < n) {
            throw new AssertionFailedError(ctx.get() + ": arrays of length " + refLen + " and " + gotLen
                    + " are shorter than n = " + n);
        }
    }

    private static void fail(Supplier<String> ctx, int i, int n, double ref, double got, double abs, double rel,
                             String worst) {
        throw new AssertionFailedError(String.format(
                "%s: [%d] of %d: expected %s but got %s (|diff| = %.3e > abs %.3e + rel %.3e·|ref|); %s",
                ctx.get(), i, n, ref, got, Math.abs(ref - got), abs, rel, worst), ref, got);
    }
}

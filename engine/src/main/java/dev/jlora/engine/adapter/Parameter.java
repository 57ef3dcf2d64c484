package dev.jlora.engine.adapter;

import java.util.Arrays;

/**
 * One trainable tensor: its name (unique within an adapter set, e.g. {@code layers.3.q_proj.lora_A}), its shape
 * (row-major), its values and the gradient accumulated into it by backward passes.
 *
 * @param value updated in place by optimizers
 * @param grad  same length as {@code value}; backward passes accumulate (+=) into it, {@link #zeroGrad} clears it
 */
public record Parameter(String name, int[] shape, float[] value, float[] grad) {

    public Parameter {
        long n = 1;
        for (int d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException("parameter '" + name + "': dimensions must be positive, got "
                        + Arrays.toString(shape));
            }
            n *= d;
        }
        if (value.length != n || grad.length != n) {
            throw new IllegalArgumentException("parameter '" + name + "': shape " + Arrays.toString(shape) + " has "
                    + n + " elements but value has " + value.length + " and grad " + grad.length);
        }
        shape = shape.clone();
    }

    /** A zero-valued parameter of the given shape. */
    public static Parameter zeros(String name, int... shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("parameter '" + name + "' of shape " + Arrays.toString(shape)
                    + " does not fit in one Java array");
        }
        return new Parameter(name, shape, new float[(int) n], new float[(int) n]);
    }

    /** A copy of this parameter's metadata under another name, sharing value and grad. */
    public Parameter renamed(String newName) {
        return new Parameter(newName, shape, value, grad);
    }

    public int size() {
        return value.length;
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    public void zeroGrad() {
        Arrays.fill(grad, 0f);
    }
}

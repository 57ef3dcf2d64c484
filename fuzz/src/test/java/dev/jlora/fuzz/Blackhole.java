package dev.jlora.fuzz;

/** Keeps a computed value observable so that reads done only to touch memory are not optimised away. */
final class Blackhole {
    private Blackhole() {}

    static volatile long sink;

    static void consume(long v) {
        sink = v;
    }
}

#!/usr/bin/env python3
"""Summarises a `scripts/bench.sh kernels` JMH JSON file as the Markdown used in docs/PERFORMANCE.md."""
import json
import sys


def main(path):
    runs = json.load(open(path))
    score = {}
    for r in runs:
        name = r["benchmark"].rsplit(".", 2)[-2] + "." + r["benchmark"].rsplit(".", 1)[-1]
        params = r.get("params", {})
        key = (name, params.get("shape") or params.get("n") or "")
        m = r["primaryMetric"]
        score[key] = (m["score"], m["scoreError"], m["scoreUnit"], r.get("vmVersion", ""))
    print(f"source: {path}\n")
    print("| benchmark | param | score | ± error (99.9%) | unit |")
    print("|---|---|---|---|---|")
    for (name, p), (s, e, u, _) in sorted(score.items()):
        print(f"| {name} | {p} | {s:.3f} | {e:.3f} | {u} |")
    print()
    for shape in sorted({p for (n, p) in score if n.startswith("MatmulBench")}):
        j, o = score.get(("MatmulBench.jlora", shape)), score.get(("MatmulBench.openblas", shape))
        if j and o:
            M, K, N = map(int, shape.split("x"))
            gf = lambda ms: 2.0 * M * K * N / (ms * 1e-3) / 1e9
            print(f"- matmulABt {shape}: jlora {j[0]:.3f} ms ({gf(j[0]):.0f} GFLOPS), OpenBLAS {o[0]:.3f} ms "
                  f"({gf(o[0]):.0f} GFLOPS): jlora at {100 * o[0] / j[0]:.0f}% of OpenBLAS")
    d, s = score.get(("DotBench.panama", "4096")), score.get(("DotBench.scalar", "4096"))
    if d and s:
        print(f"- dot n=4096: Panama {d[0]:.1f} ns, scalar {s[0]:.1f} ns: {s[0] / d[0]:.1f}x")
    f1 = score.get(("FmaPeakBench.oneThread", ""))
    if f1:
        print(f"- FMA peak, one thread: {f1[0]:.0f} vector FMAs/us "
              f"(= {f1[0] * 2 * 16 / 1e3:.0f} GFLOPS at 16 lanes)")
    f2 = score.get(("FmaPeakBench.twoThreads", ""))
    if f2:
        print(f"- FMA peak, two threads: {f2[0]:.0f} vector FMAs/us in total "
              f"(= {f2[0] * 2 * 16 / 1e3:.0f} GFLOPS at 16 lanes)")


if __name__ == "__main__":
    main(sys.argv[1])

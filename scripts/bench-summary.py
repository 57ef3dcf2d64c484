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
        raw = [x for fork in m.get("rawData", []) for x in fork]
        # Best iteration: on a shared machine other work only ever slows an iteration down.
        best = (max(raw) if r["mode"] == "thrpt" else min(raw)) if raw else m["score"]
        score[key] = (m["score"], m["scoreError"], m["scoreUnit"], best)
    print(f"source: {path}\n")
    print("| benchmark | param | score (mean) | ± error (99.9%) | best iteration | unit |")
    print("|---|---|---|---|---|---|")
    for (name, p), (s, e, u, b) in sorted(score.items()):
        print(f"| {name} | {p} | {s:.3f} | {e:.3f} | {b:.3f} | {u} |")
    print()
    for shape in sorted({p for (n, p) in score if n.startswith("MatmulBench")}):
        j, o = score.get(("MatmulBench.jlora", shape)), score.get(("MatmulBench.openblas", shape))
        if j and o:
            M, K, N = map(int, shape.split("x"))
            gf = lambda ms: 2.0 * M * K * N / (ms * 1e-3) / 1e9
            print(f"- matmulABt {shape}: mean jlora {j[0]:.3f} ms ({gf(j[0]):.0f} GFLOPS), OpenBLAS {o[0]:.3f} ms "
                  f"({gf(o[0]):.0f} GFLOPS): jlora at {100 * o[0] / j[0]:.0f}% of OpenBLAS; best iteration jlora "
                  f"{j[3]:.3f} ms ({gf(j[3]):.0f} GFLOPS), OpenBLAS {o[3]:.3f} ms ({gf(o[3]):.0f} GFLOPS): "
                  f"{100 * o[3] / j[3]:.0f}%")
    d, s = score.get(("DotBench.panama", "4096")), score.get(("DotBench.scalar", "4096"))
    if d and s:
        print(f"- dot n=4096: mean Panama {d[0]:.1f} ns, scalar {s[0]:.1f} ns: {s[0] / d[0]:.1f}x; "
              f"best iteration {d[3]:.1f} ns vs {s[3]:.1f} ns: {s[3] / d[3]:.1f}x")
    f1 = score.get(("FmaPeakBench.oneThread", ""))
    if f1:
        print(f"- FMA peak, one thread: mean {f1[0]:.0f} vector FMAs/us (= {f1[0] * 2 * 16 / 1e3:.0f} GFLOPS at 16 "
              f"lanes), best iteration {f1[3]:.0f} (= {f1[3] * 2 * 16 / 1e3:.0f} GFLOPS)")
    f2 = score.get(("FmaPeakBench.twoThreads", ""))
    if f2:
        print(f"- FMA peak, two threads: mean {f2[0]:.0f} vector FMAs/us in total (= {f2[0] * 2 * 16 / 1e3:.0f} "
              f"GFLOPS at 16 lanes), best iteration {f2[3]:.0f} (= {f2[3] * 2 * 16 / 1e3:.0f} GFLOPS)")


if __name__ == "__main__":
    main(sys.argv[1])

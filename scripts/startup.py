#!/usr/bin/env python3
"""Start-up of the standalone image with and without its CDS archive, and of ./jlora on the full JDK.

    python3 scripts/startup.py cli/target/jlora-VERSION-linux-x64 [runs]

Prints a Markdown table: median and best wall time and CPU time (user + sys of the JVM process) over `runs` runs
of each command, from an empty working directory. CPU time is the steadier figure on a loaded machine.
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def measure(cmd, runs, env, cwd):
    walls, cpus = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env, cwd=cwd)
        t1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        walls.append((t1 - t0) * 1000)
        cpus.append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)
    return statistics.median(walls), min(walls), statistics.median(cpus), min(cpus)


def main(image, runs):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    launcher = [os.path.join(os.path.abspath(image), "bin", "jlora")]
    no_cds = dict(os.environ, JLORA_JAVA_OPTS="-Xshare:off")
    commands = [("--help", ["--help"]),
                ("info demo", ["info", "demo"]),
                ("generate demo, 8 tokens", ["generate", "demo", "--prompt", "Once upon a time", "--max-tokens", "8",
                                             "--temperature", "0"])]
    print(f"load average before: {' '.join(open('/proc/loadavg').read().split()[:3])}, {os.cpu_count()} CPUs\n")
    print("| command | how | wall median ms | wall best ms | CPU median ms | CPU best ms |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as cwd:
        for label, args in commands:
            for how, cmd, env in [("image, AppCDS archive", launcher + args, None),
                                  ("image, -Xshare:off", launcher + args, no_cds),
                                  ("./jlora, full JDK (its default CDS)", [os.path.join(repo, "jlora")] + args, None)]:
                mw, bw, mc, bc = measure(cmd, runs, env, cwd)
                print(f"| {label} | {how} | {mw:.0f} | {bw:.0f} | {mc:.0f} | {bc:.0f} |")
    print(f"\nload average after: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 9)

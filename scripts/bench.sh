#!/usr/bin/env bash
# Builds bench/target/benchmarks.jar and runs a benchmark group with JSON results.
#
#   scripts/bench.sh kernels [extra JMH options]   dot, matmul vs OpenBLAS, FMA peak -> bench/results/kernels-<UTC>.json
#   scripts/bench.sh forms [extra JMH options]     matmulAB, matmulAtBAccumulate, segment ABt vs OpenBLAS
#   scripts/bench.sh compare [rounds]              matmul vs OpenBLAS alternating call by call (robust to load)
#   scripts/bench.sh memory [MemoryBench options]  peak RSS and heap of stories110M inference/LoRA training with F32,
#                                                  Q4_0 and NF4 weights, one child JVM per configuration
#                                                  -> bench/results/<date>/memory-<UTC>.txt
#   scripts/bench.sh train [SHAPE] [TYPES] [STEPS] LoRA training step next to PyTorch CPU in one run: PyTorch, jlora
#                                                  (each type), PyTorch again, each process timed by /usr/bin/time
#                                                  -> bench/results/<date>/train-<UTC>.txt (defaults: 110M F32,NF4 3)
#   scripts/bench.sh jar                           only build the jar
#   scripts/bench.sh baseline [JMH options]        the regression suite, stored as this CPU's baseline
#                                                  bench/baselines/<cpu>-<bits>bit.json (commit it)
#   scripts/bench.sh regress [JMH options]         the regression suite compared with this CPU's baseline: a table of
#                                                  speed ratios; suspects (slower beyond 10 % and the noise) are re-run
#                                                  once and only those slow again are reported (exit 1)
#
# Regression suite: the jlora side of the kernels (dot, fp32 matmul, quantized matvec/matmul/backward), a training
# step and a decode token (StepBench), and the FMA peak as a check on the machine itself. Options such as
# `-wi 2 -i 3 -w 1s -r 1s` shorten it; use the same options for the baseline and the runs compared with it.
# REGRESS_THRESHOLD (default 0.10) is the slowdown tolerated regardless of noise.
#
# The jar also runs on its own:
#   OPENBLAS_CORETYPE=SkylakeX java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
#       -jar bench/target/benchmarks.jar 'dev.jlora.bench.MatmulBench' -rf json -rff out.json
# Quick run: scripts/bench.sh kernels -wi 2 -i 3 -w 1s -r 1s
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
group=${1:-kernels}
shift || true

"$root/build" -q package -pl bench -am -DskipTests
[ "$group" = jar ] && { echo "built $root/bench/target/benchmarks.jar"; exit 0; }

# OpenBLAS chooses its kernels when it loads, from this variable; the forked JVMs inherit it.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  if grep -qw avx512f <<<"$flags"; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 <<<"$flags"; then export OPENBLAS_CORETYPE=Haswell
  fi
fi
echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (a shared machine makes scores noisy)"
echo "bench: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>}, CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"

mkdir -p "$root/bench/results"
out="$root/bench/results/$group-$(date -u +%Y%m%dT%H%M%SZ).json"
JAVA_HOME=$("$root/scripts/find-jdk.sh")
case "$group" in
  kernels) pattern='dev\.jlora\.bench\.(DotBench|MatmulBench|FmaPeakBench)' ;;
  forms) pattern='dev\.jlora\.bench\.MatmulFormsBench' ;;
  compare)
    # OpenBLAS's idle worker threads busy-wait for 2^OPENBLAS_THREAD_TIMEOUT cycles (default 28, about 0.1 s)
    # after each call, so in an alternating run they take a core from the jlora call that follows (measured:
    # jlora's median 1.9x its best with the default, 1.1-1.2x with 4). 4 is OpenBLAS's minimum; override to compare.
    export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
    echo "bench: OPENBLAS_THREAD_TIMEOUT=$OPENBLAS_THREAD_TIMEOUT"
    "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Djlora.threads=2 \
      -cp "$root/bench/target/benchmarks.jar" dev.jlora.bench.MatmulCompare "${1:-60}" "$out"
    exit 0 ;;
  train)
    # One process at a time, PyTorch before and after jlora so a change of load shows up as a change between the
    # two PyTorch runs. Ratios are what to read on a shared machine; CPU s/step is printed next to wall time.
    shape=${1:-110M}; types=${2:-F32,NF4}; steps=${3:-3}
    out="$root/bench/results/$(date -u +%Y-%m-%d)/train-$(date -u +%Y%m%dT%H%M%SZ).txt"
    mkdir -p "$(dirname "$out")"
    peak() { grep -E 'Maximum resident set size' | sed 's/^\s*/    /'; }
    torch_run() {
      echo "== PyTorch (load $(cut -d' ' -f1-3 /proc/loadavg))"
      /usr/bin/time -v /usr/bin/python3 "$root/bench/scripts/train_torch.py" --shape "$shape" --steps "$steps" \
        --warmup 1 2> >(peak >&2)
    }
    {
      echo "bench train: $shape $types, $steps steps after 1 warm-up, commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo '+dirty')"
      torch_run
      for t in ${types//,/ }; do
        echo "== jlora $t (load $(cut -d' ' -f1-3 /proc/loadavg))"
        /usr/bin/time -v "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
          -Djlora.threads=2 -cp "$root/bench/target/benchmarks.jar" dev.jlora.bench.TrainBench \
          --models "$root/../shared/models" --out "$root/bench/target/models" --shapes "$shape" --types "$t" \
          --steps "$steps" --warmup 1 --checkpointing off 2> >(peak >&2)
      done
      torch_run
    } 2>&1 | grep --line-buffered -v 'Using incubator modules' | tee "$out"
    echo "bench: results in $out"
    exit 0 ;;
  memory)
    out="$root/bench/results/$(date -u +%Y-%m-%d)/memory-$(date -u +%Y%m%dT%H%M%SZ).txt"
    mkdir -p "$(dirname "$out")"
    "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      -cp "$root/bench/target/benchmarks.jar" dev.jlora.bench.MemoryBench --models "$root/../shared/models" \
      --out "$root/bench/target/models" "$@" | tee "$out"
    echo "bench: results in $out"
    exit 0 ;;
  baseline|regress)
    pattern='dev\.jlora\.bench\.(DotBench\.panama|MatmulBench\.jlora|FmaPeakBench\.oneThread|QuantMatvecBenchmark|StepBench)'
    compare=("$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector -cp "$root/bench/target/benchmarks.jar"
      dev.jlora.bench.BaselineCompare)
    baseline_file="$root/bench/baselines/$("${compare[@]}" baseline-name 2>/dev/null).json"
    "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
      -jar "$root/bench/target/benchmarks.jar" "$pattern" -rf json -rff "$out" "$@"
    if [ "$group" = baseline ]; then
      "${compare[@]}" record "$out" "$baseline_file"
      exit 0
    fi
    [ -f "$baseline_file" ] || { echo "bench: no baseline for this CPU ($baseline_file): run scripts/bench.sh baseline first (on the code to compare against)" >&2; exit 2; }
    suspects="${out%.json}-suspects.txt"
    code=0
    "${compare[@]}" compare "$baseline_file" "$out" --threshold "${REGRESS_THRESHOLD:-0.10}" --suspects "$suspects" || code=$?
    [ "$code" = 2 ] && exit 2
    if [ -s "$suspects" ]; then
      echo; echo "bench: re-running the suspects once: $(tr '\n' ' ' < "$suspects")"
      mapfile -t patterns < "$suspects"
      "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
        -jar "$root/bench/target/benchmarks.jar" "${patterns[@]}" -rf json -rff "${out%.json}-rerun.json" "$@"
      code=0
      "${compare[@]}" compare "$baseline_file" "$out" "${out%.json}-rerun.json" --threshold "${REGRESS_THRESHOLD:-0.10}" || code=$?
    fi
    echo "bench: run $out against $baseline_file (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
    exit "$code" ;;
  *) echo "usage: scripts/bench.sh kernels|forms|compare|train|memory|baseline|regress|jar [options]" >&2; exit 2 ;;
esac

"$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -jar "$root/bench/target/benchmarks.jar" "$pattern" -rf json -rff "$out" "$@"
echo "bench: results in $out (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
if [ "$group" = kernels ]; then python3 "$root/scripts/bench-summary.py" "$out"; fi

#!/bin/sh
# Longer coverage-guided fuzzing than CI's: ROUNDS rounds of every target (or those matching PATTERN), each round
# FuzzInputs.BUDGET per target in a fresh JVM, continuing from the corpus kept in fuzz/.cifuzz-corpus/.
# Findings land in fuzz/src/test/resources/dev/jlora/**/*Inputs/ and are replayed by every `./build verify`.
#   scripts/fuzz.sh 30                 # about 30 × 10 s per target
#   scripts/fuzz.sh 10 'Gguf*'         # one target
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-10}
pattern=${2:-*FuzzTest}
log="$root/fuzz/target/fuzz-rounds.log"
mkdir -p "$root/fuzz/target"
: > "$log"
i=1
while [ "$i" -le "$rounds" ]; do
  echo "fuzz round $i/$rounds ($pattern)"
  "$root/build" -q test -pl fuzz -am -Dtest="$pattern" -Dsurefire.failIfNoSpecifiedTests=false >> "$log" 2>&1 || {
    echo "a fuzz target failed in round $i: see $log and the crash-* files under fuzz/src/test/resources"; exit 1; }
  i=$((i + 1))
done
echo "executions per target and round (libFuzzer 'Done' lines):"
grep -E '^Done [0-9]+ runs' "$log" | awk '{ n += $2 } END { printf "  %d runs in total\n", n }'

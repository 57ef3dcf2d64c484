#!/usr/bin/env bash
# Builds the standalone jlora image: a jlink'd Java runtime with only the modules jlora needs, the jars, the demo
# model, a class-data sharing (AppCDS) archive for fast start-up and a bin/jlora launcher. Needs nothing installed
# to run (not even a JDK): unpack anywhere and run bin/jlora.
#
#   scripts/dist.sh                 builds the CLI jars if needed, then cli/target/jlora-<version>-linux-x64/ and .tar.gz
#   scripts/dist.sh --out DIR       puts the image (and tarball) under DIR instead of cli/target
#   scripts/dist.sh --no-tar        skips the .tar.gz
#   scripts/dist.sh --no-build      uses cli/target/jlora-cli.jar and cli/target/lib/ as they are (fails if missing)
#
# The same runs as `./build -Pdist package -pl cli -am` (the cli module's dist profile calls this script after
# packaging the jars). JAVA_HOME, if set to a JDK 25+, is the JDK whose jlink and modules are used.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/cli/target tar=1 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --no-tar) tar=0; shift ;;
    --no-build) build=0; shift ;;
    *) echo "usage: scripts/dist.sh [--out DIR] [--no-tar] [--no-build]" >&2; exit 2 ;;
  esac
done

JAVA_HOME=$("$root/scripts/find-jdk.sh")
export JAVA_HOME
jars=$root/cli/target
if [ "$build" = 1 ]; then
  "$root/build" -q package -pl cli -am -DskipTests
fi
[ -f "$jars/jlora-cli.jar" ] && [ -d "$jars/lib" ] \
  || { echo "dist: $jars/jlora-cli.jar or $jars/lib/ missing: run ./build package -pl cli -am first" >&2; exit 1; }
[ -x "$JAVA_HOME/bin/jlink" ] || { echo "dist: no jlink in $JAVA_HOME/bin (needs a full JDK 25)" >&2; exit 1; }

# The project version: the first <version> of the root pom is the project's own.
version=$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' "$root/pom.xml" | head -n 1)
arch=$(uname -m); [ "$arch" = x86_64 ] && arch=x64; [ "$arch" = aarch64 ] && arch=aarch64
name=jlora-$version-linux-$arch
image=$out/$name
rm -rf "$image"
mkdir -p "$image/bin" "$image/app" "$image/models" "$image/share/completion"

# 1. The modules the jars use (jdeps), plus the Vector API, which is only ever added on the command line.
modules=$("$JAVA_HOME/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 25 \
  "$jars/jlora-cli.jar" "$jars"/lib/*.jar | tail -n 1)
case ",$modules," in *,jdk.incubator.vector,*) ;; *) modules=$modules,jdk.incubator.vector ;; esac
echo "dist: runtime modules $modules"
"$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
  --output "$image/runtime"

# 2. The jars, laid out as in cli/target so the manifest's Class-Path (lib/...) resolves; the demo model and licence.
cp "$jars/jlora-cli.jar" "$image/app/"
cp -r "$jars/lib" "$image/app/lib"
cp "$root/models/stories260K.gguf" "$root/models/LICENSE-llama2.c.txt" "$image/models/"
cat > "$image/README.txt" <<EOF
jlora $version, standalone image for Linux $arch: pure-Java LLM fine-tuning and serving with LoRA and its variants.

  bin/jlora --help                          subcommands; each has --help (the full reference is docs/CLI.md of the source)
  bin/jlora generate demo --prompt "Once upon a time" --max-tokens 60 --temperature 0
  source share/completion/jlora.bash        shell completion (bash; zsh too, through bashcompinit)

runtime/ is a Java $("$JAVA_HOME/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.runtime.version = //p') runtime made by jlink (modules: $modules).
lib/jlora.jsa is a class-data sharing archive of the classes a run loads, so the JVM maps them instead of
loading them (see docs/PERFORMANCE.md, "Start-up"). Set JLORA_JAVA_OPTS for extra JVM options (e.g. -Xmx8g).

The demo model models/stories260K.gguf is Andrej Karpathy's llama2.c TinyStories model converted to GGUF,
MIT licence, Copyright (c) 2023 Andrej Karpathy (models/LICENSE-llama2.c.txt).
EOF

# 3. The launcher. The JVM flags are those of the ./jlora launcher; JVM warnings go to stderr so that stdout carries
#    only what the command prints (a CDS archive that cannot be mapped is a warning, and the JVM runs without it).
cat > "$image/bin/jlora" <<'EOF'
#!/bin/sh
# jlora: the standalone image's launcher (made by scripts/dist.sh). Symlinks to it work.
set -eu
home=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd -P)
exec "$home/runtime/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -XX:+UseParallelGC -XX:SharedArchiveFile="$home/lib/jlora.jsa" -Xlog:disable -Xlog:all=warning:stderr \
  -Djlora.home="$home" ${JLORA_JAVA_OPTS:-} -jar "$home/app/jlora-cli.jar" "$@"
EOF
chmod +x "$image/bin/jlora"

# 4. The CDS archive: a training run records the classes a typical command loads (model loading, tokenizer, forward,
#    sampling, picocli), then a static dump archives them together with the JDK classes they need.
mkdir -p "$image/lib"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Djlora.home="$image")
(cd "$work" && "$image/runtime/bin/java" "${flags[@]}" -XX:DumpLoadedClassList="$work/classes.txt" \
  -jar "$image/app/jlora-cli.jar" generate demo --prompt "Once upon a time" --max-tokens 16 --temperature 0 \
  >/dev/null 2>"$work/train.err") || { cat "$work/train.err" >&2; exit 1; }
"$image/runtime/bin/java" "${flags[@]}" -Xshare:dump -XX:SharedClassListFile="$work/classes.txt" \
  -XX:SharedArchiveFile="$image/lib/jlora.jsa" -Xlog:disable -Xlog:cds=error:stderr \
  -jar "$image/app/jlora-cli.jar" >/dev/null
echo "dist: CDS archive of $(wc -l <"$work/classes.txt") classes"

"$image/bin/jlora" completion bash > "$image/share/completion/jlora.bash"

echo "dist: $image ($(du -sh "$image" | cut -f1))"
if [ "$tar" = 1 ]; then
  tar -czf "$out/$name.tar.gz" -C "$out" "$name"
  echo "dist: $out/$name.tar.gz ($(du -sh "$out/$name.tar.gz" | cut -f1))"
fi

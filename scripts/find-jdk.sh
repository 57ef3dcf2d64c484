#!/bin/sh
# Prints the home directory of a JDK 25 or newer, or explains on stderr and exits 1.
# Order: $JAVA_HOME if it is new enough, then the newest JDK under /usr/lib/jvm and /opt, then `java` on PATH.
# jlora needs 25+ for the incubating Vector API and the final FFM API.
set -u
required=25

major_of() { # $1 = JDK home; prints its feature version or nothing
  if [ -f "$1/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release")
  elif [ -x "$1/bin/java" ]; then
    v=$("$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p')
  else
    v=
  fi
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] && echo "$v"
}

good() { v=$(major_of "$1"); [ -n "$v" ] && [ "$v" -ge "$required" ]; }

if [ -n "${JAVA_HOME:-}" ] && good "$JAVA_HOME"; then echo "$JAVA_HOME"; exit 0; fi

best= best_v=0
for home in /usr/lib/jvm/* /opt/jdk* /opt/java/* /usr/local/jdk*; do
  [ -d "$home" ] || continue
  v=$(major_of "$home")
  [ -n "$v" ] || continue
  if [ "$v" -ge "$required" ] && [ "$v" -gt "$best_v" ]; then best=$home best_v=$v; fi
done
if [ -n "$best" ]; then echo "$best"; exit 0; fi

if command -v javac >/dev/null 2>&1; then
  home=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
  if good "$home"; then echo "$home"; exit 0; fi
fi

echo "jlora: no JDK $required or newer found (looked at \$JAVA_HOME, /usr/lib/jvm, /opt, PATH)." >&2
echo "jlora: install one (e.g. Temurin 25) or point JAVA_HOME at it." >&2
exit 1

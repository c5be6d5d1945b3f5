#!/usr/bin/env bash
# The "run a build" demo: builds fusebox, makes a tiny C project in a temp dir, runs
# `./configure && make` under fusebox-run, then shows a write to $HOME being refused.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release
# shellcheck source=scripts/lib/build.sh
. scripts/lib/build.sh
FUSEBOX=$(release_bin)

work=$(mktemp -d "${TMPDIR:-/tmp}/fusebox-sample.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# --- a tiny C project with a hand-written configure script -----------------------------
cat > hello.c <<'C'
#include <stdio.h>
#include "config.h"
int main(void) { printf("Hello from %s, built in a fusebox sandbox\n", PACKAGE); return 0; }
C
cat > configure <<'SH'
#!/bin/sh
# A minimal configure: finds a C compiler, checks it works, writes config.h and config.mk.
echo "checking for a C compiler..."
for cc in "${CC:-}" cc gcc clang; do
    [ -n "$cc" ] && command -v "$cc" >/dev/null 2>&1 && CC=$cc && break
done
[ -n "${CC:-}" ] || { echo "configure: no C compiler found" >&2; exit 1; }
echo "int main(void){return 0;}" > conftest.c
"$CC" -o conftest conftest.c || { echo "configure: $CC cannot build programs" >&2; exit 1; }
rm -f conftest conftest.c
echo "using $CC"
echo '#define PACKAGE "hello-1.0"' > config.h
echo "CC = $CC" > config.mk
echo "configure: wrote config.h config.mk"
SH
chmod +x configure
printf 'include config.mk\n\nhello: hello.c config.h\n\t$(CC) -O2 -o $@ hello.c\n\nclean:\n\trm -f hello config.h config.mk\n' > Makefile

echo "== ./configure && make && ./hello, under fusebox-run (in $work)"
"$FUSEBOX" -- sh -c './configure && make && ./hello'
echo "   result on the host: $(ls -l "$work/hello")"

# --- a write outside the write paths (cwd, /tmp, $TMPDIR) is refused ------------------
victim="$HOME/fusebox-sample-should-not-exist.$$"
echo
echo "== a write to \$HOME is refused:"
echo "   fusebox-run -- sh -c 'echo hi > $victim'"
set +e
"$FUSEBOX" -- sh -c "echo hi > '$victim'"
status=$?
set -e
echo "   exit status: $status"
if [ -e "$victim" ]; then
    rm -f "$victim"
    echo "UNEXPECTED: the file was created on the host" >&2
    exit 1
fi
echo "   $victim does not exist on the host: the sandbox refused the write."

# shellcheck shell=bash
# Untar and a C build for scripts/bench.sh (sourced; not run on its own), from one source
# tarball: the PyPI sdist of lupa, which vendors the Lua sources (fetched at bench time:
# pip download, else PyPI's JSON API); when neither works, a generated C project of 150
# files, and the report says so (SRC_NOTE).

LUPA_VERSION=2.8
TARBALL=

# shellcheck disable=SC2016 # backquotes of Markdown
c_build_workloads() {
    wanted untar || wanted build || return 0
    fetch_sources
    local wl=$WORK/wl n
    n=$(nproc)
    if wanted untar; then
        cat > "$wl/untar.sh" <<EOS
set -e
mkdir $WORK/untar && tar xzf $TARBALL -C $WORK/untar && rm -rf $WORK/untar
EOS
        hyperfine_row untar 'untar + `rm -rf` a source tarball' --prepare "rm -rf $WORK/untar"
    fi
    if wanted build; then
        write_build_workload "$n"
        hyperfine_row build "C build: \`make -j$n\`" --prepare "sh $wl/build-prepare.sh"
    fi
}

write_build_workload() { # write_build_workload JOBS: build.sh, and build-prepare.sh for a fresh tree
    local wl=$WORK/wl n=$1
    if [[ $TARBALL == */lupa-* ]]; then
        cat > "$wl/build.sh" <<EOS
set -e
for v in lua54 lua55; do
    make -s -C $WORK/build/\$v -j$n MYCFLAGS='-std=c99 -DLUA_USE_LINUX' MYLIBS=-ldl CWARNS= >/dev/null
done
EOS
        cat > "$wl/build-prepare.sh" <<EOS
rm -rf $WORK/build && mkdir -p $WORK/build &&
tar xzf $TARBALL -C $WORK/build --strip-components=2 lupa-$LUPA_VERSION/third-party/lua54 lupa-$LUPA_VERSION/third-party/lua55
EOS
    else
        echo "make -s -C $WORK/build/gen -j$n >/dev/null" > "$wl/build.sh"
        echo "rm -rf $WORK/build && mkdir -p $WORK/build && tar xzf $TARBALL -C $WORK/build" > "$wl/build-prepare.sh"
    fi
}

# shellcheck disable=SC2034 # SRC_NOTE is for the report (bench.sh)
fetch_sources() { # TARBALL and SRC_NOTE
    local dl=$WORK/dl; mkdir -p "$dl"
    say "fetching the lupa $LUPA_VERSION sdist (vendors Lua) from PyPI"
    if command -v pip3 >/dev/null && timeout 60 pip3 download --quiet --no-deps --no-binary lupa \
            --no-build-isolation -d "$dl" "lupa==$LUPA_VERSION" >/dev/null 2>&1 &&
            [ -f "$dl/lupa-$LUPA_VERSION.tar.gz" ]; then
        :
    elif command -v python3 >/dev/null && timeout 120 python3 - "$dl" "$LUPA_VERSION" <<'EOS'
import hashlib, json, sys, urllib.request
dl, ver = sys.argv[1], sys.argv[2]
meta = json.load(urllib.request.urlopen("https://pypi.org/pypi/lupa/json", timeout=30))
files = meta.get("releases", {}).get(ver) or meta["urls"]
sd = [u for u in files if u["packagetype"] == "sdist" and u["filename"] == f"lupa-{ver}.tar.gz"][0]
data = urllib.request.urlopen(sd["url"], timeout=90).read()
assert hashlib.sha256(data).hexdigest() == sd["digests"]["sha256"], "sha256 mismatch"
open(f"{dl}/{sd['filename']}", "wb").write(data)
EOS
    then
        :
    fi
    if [ -f "$dl/lupa-$LUPA_VERSION.tar.gz" ] && tar tzf "$dl/lupa-$LUPA_VERSION.tar.gz" >/dev/null 2>&1; then
        TARBALL=$dl/lupa-$LUPA_VERSION.tar.gz
        SRC_NOTE="PyPI sdist lupa-$LUPA_VERSION.tar.gz ($(tar tzf "$TARBALL" | wc -l) entries); build: its vendored Lua 5.4 and 5.5 (make)"
    else
        say "warning: cannot fetch lupa from PyPI; using a GENERATED C project instead"
        generate_c_project "$dl/gen"
        tar czf "$dl/gen.tar.gz" -C "$dl" gen
        TARBALL=$dl/gen.tar.gz
        SRC_NOTE="GENERATED C project (150 files; PyPI was unreachable) — not a real project"
    fi
}

# shellcheck disable=SC2016 # make's $(...) and $@, not the shell's
generate_c_project() { # a make project of 150 C files
    local d=$1 i; mkdir -p "$d"
    for i in $(seq 1 150); do
        cat > "$d/f$i.c" <<EOS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int tab${i}[256];
int f$i(int x) { int s = 0; for (int k = 0; k < 256; k++) { tab${i}[k] = (x * k) ^ $i; s += tab${i}[k] % 7; } return s; }
EOS
    done
    { printf 'int main(void) { return 0; }\n'; } > "$d/main.c"
    {
        printf 'SRCS := $(wildcard *.c)\nOBJS := $(SRCS:.c=.o)\nCFLAGS ?= -O2\n'
        printf 'prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\nclean:\n\trm -f *.o prog\n'
    } > "$d/Makefile"
}

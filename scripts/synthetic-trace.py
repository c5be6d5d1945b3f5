#!/usr/bin/env python3
"""Writes a synthetic fusebox trace (the --trace JSON-lines format) of N events to
stdout, shaped like a large C/C++ build: many processes compiling files of a build
tree, reading headers from a few thousand system directories, writing objects, and a
few refusals and writes outside. For measuring `fusebox-run --report FILE
--from-trace TRACE` on big traces (README, "Footprint report"):

    python3 scripts/synthetic-trace.py 1000000 > /tmp/big.jsonl
    /usr/bin/time -v fusebox-run --report /tmp/big.html --from-trace /tmp/big.jsonl

Deterministic (fixed seed), so runs compare."""
import json
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = random.Random(15)
build = "/home/dev/src/big"
header_dirs = [f"/usr/include/lib{d}/sub{d % 7}" for d in range(3000)]
ops_read = ["open_rd", "lookup", "stat", "access", "readlink", "opendir"]
out = sys.stdout
pid = 1000
cmdline = "make -j8"
for i in range(n):
    if i % 50 == 0:
        pid += 1
        unit = i // 50
        cmdline = f"cc -c -O2 -o obj/{unit}.o src/m{unit % 900}/f{unit}.c"
        event = {"op": "execve", "path": "/usr/lib/gcc/x86_64-linux-gnu/12/cc1"}
    else:
        r = rng.random()
        if r < 0.80:
            d = header_dirs[min(int(rng.expovariate(1 / 300)), len(header_dirs) - 1)]
            event = {"op": rng.choice(ops_read), "path": f"{d}/h{rng.randrange(40)}.h"}
        elif r < 0.95:
            unit = i // 50
            event = {"op": "open_wr_creat", "path": f"{build}/obj/{unit}.o"}
        elif r < 0.9999:
            event = {"op": "open_wr", "path": f"/tmp/cc{rng.randrange(10**6):06}.s"}
        else:
            event = {"op": "open_wr_creat", "path": f"/etc/evil{rng.randrange(100)}"}
    refused = event["path"].startswith("/etc/")
    line = {
        "time": "2026-12-03T12:00:00.000000Z",
        "pid": pid,
        "cmdline": cmdline,
        "op": event["op"],
        "path": event["path"],
        "verdict": "deny" if refused else "allow",
        "errno": 13 if refused else (2 if event["op"] == "lookup" and rng.random() < 0.3 else 0),
    }
    out.write(json.dumps(line, separators=(",", ":")) + "\n")

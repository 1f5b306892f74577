#!/usr/bin/env python3
"""Instructions per message of one micro loop, by method (valgrind callgrind + the runtime's perf map).

usage: python3 bench/instructions_by_method.py CASE [N] [TOP]
  CASE: a loop of bench/Transport.Benchmarks/Micro/InstructionLoops.cs (create-leased, create-owned, ...)
  N:    iterations of 64 messages in the first run (default 1500); the second runs 2N
Runs the loop under callgrind twice (N and 2N) with DOTNET_PerfMapEnabled=1, maps every jitted address
callgrind reports to its method in the runtime's perf map, and prints (2N run - N run) / (N x 64) per
method: the start-up, the JIT and the harness cancel out as in bench/instructions.sh. Needs valgrind and
the bench built in Release. A method marked [QuickJitted] in the output ran at tier 0 inside the counted
window: raise N.
"""
import bisect
import collections
import glob
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DLL = os.path.join(ROOT, "bench/Transport.Benchmarks/bin/Release/net10.0/Transport.Benchmarks.dll")


def run(case, n, out):
    env = dict(os.environ, DOTNET_PerfMapEnabled="1", DOTNET_PerfMapPath=out, DOTNET_PerfMapJitDumpPath=out,
               DOTNET_TC_CallCountingDelayMs="0", DOTNET_TieredPGO=os.environ.get("TIERED_PGO", "0"))
    cg = os.path.join(out, f"cg.{n}")
    before = set(glob.glob(os.path.join(out, "perf-*.map")))
    subprocess.run(["valgrind", "--tool=callgrind", "--fair-sched=yes", f"--callgrind-out-file={cg}",
                    "dotnet", DLL, "--child", "loop", case, str(n)],
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    maps = sorted(set(glob.glob(os.path.join(out, "perf-*.map"))) - before, key=os.path.getmtime)
    return cg, maps[-1]


def by_method(cg, perf_map):
    entries = []
    with open(perf_map) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) == 3:
                entries.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
    entries.sort()
    starts = [e[0] for e in entries]
    text = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", cg],
                          capture_output=True, text=True, check=True).stdout
    cost = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(.*?\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        count, name = int(m.group(1).replace(",", "")), m.group(2)
        a = re.match(r"(?:\?\?\?:)?0x([0-9a-fA-F]+)", name)
        if a:
            address = int(a.group(1), 16)
            i = bisect.bisect_right(starts, address) - 1
            name = entries[i][2] if i >= 0 and address < entries[i][0] + entries[i][1] else "(jitted code not in the perf map)"
        cost[name] += count
    return cost


def main():
    case = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    with tempfile.TemporaryDirectory() as out:
        a = by_method(*run(case, n, out))
        b = by_method(*run(case, 2 * n, out))
    per = {k: (b[k] - a[k]) / (n * 64) for k in set(a) | set(b)}
    print(f"{case}: {sum(per.values()):.0f} instructions per message (N={n})")
    print("| instructions per message | method |")
    print("|---:|---|")
    for name, value in sorted(per.items(), key=lambda kv: -kv[1])[:top]:
        if abs(value) >= 1:
            print(f"| {value:.1f} | {name[:160].replace('|', '/')} |")


if __name__ == "__main__":
    main()

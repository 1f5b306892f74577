#!/usr/bin/env bash
# Round 5 (issue 24): every figure of docs/benchmarks.md "Round 5", raw results and pictures, one command.
#   usage: bash bench/round5.sh            # the figures: a quiet machine, about 90 minutes
#          bash bench/round5.sh --quick    # harness check only (about 3 minutes; writes bench/results/round5-quick)
#   env:   RUNS=3 (processes of receive+tail+sendload; run-to-run spread needs >= 3), BENCH_ROUNDS (5)
# Writes bench/results/round5/: run1..N.md (receive, tail, sendload), once.md (idle, latency, slow),
# samples.jsonl (every per-round sample), aggregate.md (medians and spread across runs),
# instructions.md (load-independent instruction counts; needs valgrind), loadavg.log; and the
# pictures in docs/img/round5/*.png (from samples.jsonl: `-- --plots`).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""
out=bench/results/round5
img=docs/img/round5
if [ "${1:-}" = "--quick" ]; then
  quick="--quick"
  out=bench/results/round5-quick
  img=$out/img
fi
runs=${RUNS:-3}
mkdir -p "$out" "$img"
rm -f "$out/samples.jsonl"
dotnet build -c Release bench/Transport.Benchmarks -v q -nologo
dll=bench/Transport.Benchmarks/bin/Release/net10.0/Transport.Benchmarks.dll
load() { echo "$(date -u +%H:%M:%S) $1 $(cat /proc/loadavg)" >> "$out/loadavg.log"; }
: > "$out/loadavg.log"

# Receive throughput (100 B, 1 KiB, 1 MiB; lease mode and owned frames in the same rounds), the tail in
# the issue's shape (100k and 10k msgs/s) and send latency under load: RUNS processes, rounds alternating.
for r in $(seq 1 "$runs"); do
  load "run$r start"
  BENCH_OUT="$out/samples.jsonl" dotnet "$dll" $quick receive tail sendload > "$out/run$r.md" 2>&1 || echo "run$r: failures, see $out/run$r.md"
  load "run$r end"
done

# Once: idle connections (10,000 per client, each client in its own process; the 1,000-connection pool),
# the previous latency shape (first 10% discarded: the comparison docs/benchmarks.md explains) and the
# slow consumer.
load "once start"
BENCH_OUT="$out/samples.jsonl" dotnet "$dll" $quick idle latency slow > "$out/once.md" 2>&1 || echo "once: failures, see $out/once.md"
load "once end"

# Instructions per message of the receive path's micro operations (owned vs leased), independent of load.
if [ -z "$quick" ] && command -v valgrind > /dev/null; then
  bash bench/instructions.sh 2000 > "$out/instructions.md" 2>&1 || echo "instructions: failed, see $out/instructions.md"
fi

python3 bench/aggregate.py "$out/samples.jsonl" > "$out/aggregate.md" 2>&1 || echo "aggregate: failed, see $out/aggregate.md"
dotnet "$dll" --plots "$out/samples.jsonl" "$img"
echo "done: $out, $img"

#!/usr/bin/env bash
# Instructions per message of micro operations, counted by valgrind's callgrind (independent of the
# machine's load). Each case runs twice, N and 2N iterations of 64 messages; the difference divided by
# N x 64 is the cost of one message, start-up, JIT and tier-up excluded. Tiering is on, as in production
# (DOTNET_TC_CallCountingDelayMs=0 lets the methods reach tier 1 within the first iterations of both runs;
# with tiering off, code jitted before a class's static constructor ran keeps slow helper calls for its
# statics, which production code does not).
#   usage: bash bench/instructions.sh [N] [case...]     (cases: see Micro/InstructionLoops.cs; default all)
#   needs: valgrind; the bench built in Release (dotnet build -c Release bench/Transport.Benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
shift || true
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  cases=(parse-owned parse-leased handoff-owned handoff-leased create-owned create-leased rent-release)
fi
dll=bench/Transport.Benchmarks/bin/Release/net10.0/Transport.Benchmarks.dll
out=$(mktemp -d)
count() {
  DOTNET_TC_CallCountingDelayMs=0 DOTNET_TieredPGO=${TIERED_PGO:-0} valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$out/cg.$1.$2" \
    dotnet "$dll" --child loop "$1" "$2" >/dev/null 2>"$out/log.$1.$2"
  grep -E '^summary:' "$out/cg.$1.$2" | awk '{print $2}'
}
echo "| case | instructions per message | N |"
echo "|---|---|---|"
for c in "${cases[@]}"; do
  a=$(count "$c" "$n")
  b=$(count "$c" $((2 * n)))
  echo "| $c | $(( (b - a) / (n * 64) )) | $n |"
done
rm -rf "$out"

#!/usr/bin/env python3
"""Per-connection heap audit from two `dotnet-gcdump report` outputs of the idle scenario.

usage: python3 bench/gcdump_diff.py DIR KIND CONNECTIONS [--min-per-conn 0.5]

DIR is BENCH_GCDUMP_DIR of an idle run (it holds KIND-before.txt and KIND-after.txt, the reports of the
client process before and after opening CONNECTIONS connections). Prints a Markdown table: every type
whose object count grew by at least --min-per-conn objects per connection, with objects and bytes per
connection, and the total. The report's first column is the size of one object of that row (sizes
above 1K/10K are their own rows), so bytes = size x count.

Example (the audit in docs/benchmarks.md, round 5):
    BENCH_IDLE_N=1000 BENCH_ROUNDS=1 BENCH_GCDUMP_DIR=bench/results/gcdump \\
      dotnet run -c Release --project bench/Transport.Benchmarks -- idle
    python3 bench/gcdump_diff.py bench/results/gcdump stack 1000
"""
import re
import sys
from collections import defaultdict

ROW = re.compile(r'^\s*([\d,]+)\s+([\d,]+)\s+(.+?)\s*$')


def parse(path):
    rows = defaultdict(lambda: [0, 0])  # type -> [count, bytes]
    started = False
    for line in open(path, encoding='utf-8'):
        if 'Object Bytes' in line and 'Count' in line:
            started = True
            continue
        if not started:
            continue
        m = ROW.match(line)
        if not m:
            continue
        size = int(m.group(1).replace(',', ''))
        count = int(m.group(2).replace(',', ''))
        name = re.sub(r'\s+\[[^\]]+\]$', '', m.group(3))
        rows[name][0] += count
        rows[name][1] += size * count
    return rows


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    if len(args) != 3:
        print(__doc__)
        sys.exit(2)
    directory, kind, n = args[0], args[1], int(args[2])
    threshold = 0.5
    if '--min-per-conn' in sys.argv:
        threshold = float(sys.argv[sys.argv.index('--min-per-conn') + 1])
    before = parse(f'{directory}/{kind}-before.txt')
    after = parse(f'{directory}/{kind}-after.txt')
    grown = []
    for name, (count, size) in after.items():
        b_count, b_size = before.get(name, (0, 0))
        d_count, d_size = count - b_count, size - b_size
        if d_count / n >= threshold:
            grown.append((d_size / n, d_count / n, name))
    grown.sort(reverse=True)
    total_all = (sum(v[1] for v in after.values()) - sum(v[1] for v in before.values())) / n
    listed = sum(g[0] for g in grown)
    print(f'| type | objects per connection | bytes per connection |')
    print('|---|---|---|')
    for size, count, name in grown:
        print(f'| `{name}` | {count:.2f} | {size:,.0f} |')
    print(f'| **listed** | | **{listed:,.0f}** |')
    print(f'| all types (heap growth / connections) | | {total_all:,.0f} |')


if __name__ == '__main__':
    main()

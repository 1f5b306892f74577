#!/usr/bin/env python3
"""Aggregates the BENCH_OUT samples of several runs of the benchmark harness into Markdown tables.

usage: python3 bench/aggregate.py samples.jsonl

Per run (one process = one 'run' id): same-round ratios to raw, their median per run. Across runs:
the median of the per-run medians, the range of the per-run medians, and the run-to-run spread
((max - min) / median of the per-run medians) of each client's rate and of its ratio to raw, next
to raw's own rate spread (the issue-14 target: the stack's spread no wider than raw's).
"""
import json
import sys
from collections import defaultdict
from statistics import median


def spread(values):
    values = [v for v in values if v == v]
    if len(values) < 2:
        return float('nan')
    return (max(values) - min(values)) / median(values) * 100


def fmt(v, d=0):
    if v != v:
        return '-'
    return f'{v:,.{d}f}'


def ratio(v):
    return '-' if v != v else f'{v:.2f}x'


def pct(v):
    return '-' if v != v else f'{v:.0f}%'


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    runs = sorted({r['run'] for r in rows})
    rounds_of = lambda scenario: max((r['round'] for r in rows if r['scenario'] == scenario), default=-1) + 1
    print(f'Runs aggregated: {len(runs)} ({", ".join(runs)})\n')

    # scenario -> label -> client -> run -> round -> record
    data = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(dict))))
    order = defaultdict(lambda: defaultdict(list))
    for r in rows:
        data[r['scenario']][r['label']][r['client']][r['run']][r['round']] = r
        if r['client'] not in order[r['scenario']][r['label']]:
            order[r['scenario']][r['label']].append(r['client'])

    for label, clients in data.get('receive', {}).items():
        print(f'#### Receive throughput, {label}: {len(runs)} runs x {rounds_of("receive")} rounds\n')
        raw = clients.get('RawReused', {})
        peer = clients.get('WebsocketClient', {})

        def per_run(client, key):
            return {run: median([x[key] for x in rounds.values()]) for run, rounds in clients[client].items()}

        def per_run_ratio(client, base, key='msgs_per_s'):
            out = {}
            for run, rounds in clients[client].items():
                pairs = [rounds[k][key] / base[run][k][key] for k in rounds if run in base and k in base[run]]
                if pairs:
                    out[run] = median(pairs)
            return out

        raw_rate = per_run('RawReused', 'msgs_per_s') if raw else {}
        raw_spread = spread(list(raw_rate.values()))
        print('| client | msgs/s (median of runs) | alloc B/msg | CPU ns/msg | vs raw (median of runs) | vs raw per run | vs Websocket.Client | rate spread run-to-run (raw\'s) | ratio spread run-to-run |')
        print('|---|---|---|---|---|---|---|---|---|')
        for client in order['receive'][label]:
            rate = per_run(client, 'msgs_per_s')
            alloc = per_run(client, 'alloc_per_msg')
            cpu = per_run(client, 'cpu_ns_per_msg') if all('cpu_ns_per_msg' in x for rr in clients[client].values() for x in rr.values()) else {}
            vs_raw = per_run_ratio(client, raw) if raw else {}
            vs_peer = per_run_ratio(client, peer) if peer else {}
            print('| ' + ' | '.join([
                client,
                fmt(median(rate.values())),
                fmt(median(alloc.values()), 1),
                fmt(median(cpu.values())) if cpu else '-',
                ratio(median(vs_raw.values())) if vs_raw else '-',
                ', '.join(f'{v:.2f}' for _, v in sorted(vs_raw.items())) if vs_raw else '-',
                ratio(median(vs_peer.values())) if vs_peer else '-',
                f'{pct(spread(list(rate.values())))} ({pct(raw_spread)})',
                '-' if client == 'RawReused' else pct(spread(list(vs_raw.values()))),
            ]) + ' |')
        print()

    for label, clients in data.get('latency', {}).items():
        print(f'#### Latency at {label}: {len(runs)} runs x {rounds_of("latency")} rounds (µs; p99 ratio = same-round, median per run)\n')
        raw = clients.get('raw, reused buffer', {})
        print('| client | p50 | p99 | p99.9 | p99 vs raw (median of runs) | p99 vs raw per run |')
        print('|---|---|---|---|---|---|')
        for client in order['latency'][label]:
            per = {}
            for run, rounds in clients[client].items():
                pairs = [rounds[k]['p99_us'] / raw[run][k]['p99_us'] for k in rounds if run in raw and k in raw[run]]
                if pairs:
                    per[run] = median(pairs)
            allr = [x for rounds in clients[client].values() for x in rounds.values()]
            print('| ' + ' | '.join([
                client,
                fmt(median(x['p50_us'] for x in allr), 1),
                fmt(median(x['p99_us'] for x in allr), 1),
                fmt(median(x['p999_us'] for x in allr), 1),
                ratio(median(per.values())) if per else '-',
                ', '.join(f'{v:.2f}' for _, v in sorted(per.items())),
            ]) + ' |')
        print()

    # Issue 24: the tail (issue shape) and send latency under load. Per client: medians over all rounds of
    # every run, the same-round p50/p99 ratio to raw (median per run, then the median and spread of those),
    # CPU ns per message; the tail also its gen0 collections and the share of samples that spanned one.
    for scenario, raw_name, title in (('tail', 'raw, reused buffer', 'Tail latency (issue 24 shape)'),
                                      ('sendload', 'raw ClientWebSocket.SendAsync', 'Send latency under load')):
        for label, clients in data.get(scenario, {}).items():
            n_runs = len({run for c in clients.values() for run in c})
            print(f'#### {title} at {label}: {n_runs} runs x {rounds_of(scenario)} rounds (µs)\n')
            raw = clients.get(raw_name, {})
            p999 = 'p99.9_us'

            def ratios(client, key):
                per = {}
                for run, rounds in clients[client].items():
                    pairs = [rounds[k][key] / raw[run][k][key] for k in rounds if run in raw and k in raw[run] and raw[run][k][key] > 0]
                    if pairs:
                        per[run] = median(pairs)
                return per

            extra = scenario == 'tail'
            print('| client | p50 | p99 | p99.9 | max | p50 vs raw | p99 vs raw (median of runs) | p99 vs raw per run | p99 ratio spread run-to-run | CPU ns/msg |'
                  + (' alloc B/msg | gen0 per round | samples spanning a gen0 GC | p99 without them |' if extra else ''))
            print('|---|---|---|---|---|---|---|---|---|---|' + ('---|---|---|---|' if extra else ''))
            for client in order[scenario][label]:
                allr = [x for rounds in clients[client].values() for x in rounds.values()]
                r50, r99 = ratios(client, 'p50_us'), ratios(client, 'p99_us')
                cells = [
                    client,
                    fmt(median(x['p50_us'] for x in allr), 1),
                    fmt(median(x['p99_us'] for x in allr), 1),
                    fmt(median(x[p999] for x in allr), 1),
                    fmt(median(x['p100_us'] for x in allr), 1),
                    ratio(median(r50.values())) if r50 else '-',
                    ratio(median(r99.values())) if r99 else '-',
                    ', '.join(f'{v:.2f}' for _, v in sorted(r99.items())),
                    '-' if client == raw_name else pct(spread(list(r99.values()))),
                    fmt(median(x['cpu_ns_per_msg'] for x in allr)),
                ]
                if extra:
                    cells += [
                        fmt(median(x['alloc_per_msg'] for x in allr), 1),
                        fmt(median(x['gen0'] for x in allr)),
                        f"{median(x['gc_spanned_pct'] for x in allr):.2f}%",
                        fmt(median(x['p99_no_gc_us'] for x in allr), 1),
                    ]
                print('| ' + ' | '.join(cells) + ' |')
            print()

    for scenario, key, akey, unit in (('fanout', 'msgs_per_s', 'alloc_per_msg', 'msgs/s'), ('batch', 'frames_per_s', 'alloc_per_frame', 'frames/s')):
        for label, clients in data.get(scenario, {}).items():
            print(f'#### {scenario}, {label}: {len(runs)} runs x {rounds_of(scenario)} rounds\n')
            print(f'| client | {unit} (median of runs) | per run | alloc B | ')
            print('|---|---|---|---|')
            for client in order[scenario][label]:
                per = {run: median([x[key] for x in rounds.values()]) for run, rounds in clients[client].items()}
                alloc = [x[akey] for rounds in clients[client].values() for x in rounds.values()]
                print(f'| {client} | {fmt(median(per.values()))} | {", ".join(fmt(v) for _, v in sorted(per.items()))} | {fmt(median(alloc), 1)} |')
            print()
            if scenario == 'fanout' and 'fan-out, 1 + 0 subscribers' in clients:
                zero = clients['fan-out, 1 + 0 subscribers']
                print('Cost per extra subscriber (same round: (ns/msg with k extra - ns/msg with 0 extra) / k; median per run):\n')
                print('| extra subscribers | ns per extra subscriber per message (median of runs) | per run |')
                print('|---|---|---|')
                for client in order[scenario][label]:
                    if not client.startswith('fan-out, 1 + ') or client.endswith('+ 0 subscribers'):
                        continue
                    k = int(client.split('+ ')[1].split(' ')[0])
                    per = {}
                    for run, rounds in clients[client].items():
                        vals = [(1e9 / rounds[i][key] - 1e9 / zero[run][i][key]) / k for i in rounds if run in zero and i in zero[run]]
                        if vals:
                            per[run] = median(vals)
                    print(f'| {k} | {fmt(median(per.values()))} | {", ".join(fmt(v) for _, v in sorted(per.items()))} |')
                print()


if __name__ == '__main__':
    main(sys.argv[1])

#!/usr/bin/env python3
"""Prints the markdown tables of test accuracy per epoch from the runs' metrics.jsonl."""
import json, os, sys
D = sys.argv[1] if len(sys.argv) > 1 else '/tmp/wt19-het'
OPTS = ['signsgd', 'sto-signsgd', 'signum']

def acc(name):
    p = os.path.join(D, name, 'metrics.jsonl')
    if not os.path.exists(p):
        return None
    return [json.loads(l)['test_acc'] for l in open(p)]

def table(title, names, epochs):
    print(f'\n{title}\n')
    print('| epoch | ' + ' | '.join(OPTS) + ' |')
    print('| --- |' + ' --- |' * len(OPTS))
    runs = [acc(n) for n in names]
    for e in epochs:
        cells = []
        for r in runs:
            cells.append('%.4f' % r[e - 1] if r and len(r) >= e else '')
        print(f'| {e} | ' + ' | '.join(cells) + ' |')

for part in ['shards2', 'dirichlet0.1']:
    table(f'MNIST mlp, --partition {part.replace("shards", "shards:").replace("dirichlet", "dirichlet:")}, seed 8005',
          [f'mnist-{o}-{part}' for o in OPTS], range(1, 6))
for seed in [8005, 1, 2]:
    table(f'logreg mlp, --partition dirichlet:0.1, seed {seed}', [f'logreg-{o}-s{seed}' for o in OPTS],
          [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 60])
for seed in [8005, 1, 2]:
    p = os.path.join(D, f'logreg-signsgd-s{seed}', 'partition.json')
    if os.path.exists(p):
        r = json.load(open(p))
        print(f'\nseed {seed} histograms (class 0, class 1) per rank: ' +
              ', '.join('(%d, %d)' % tuple(x['histogram']) for x in r['ranks']))
for part in ['shards2', 'dirichlet0.1']:
    p = os.path.join(D, f'mnist-signsgd-{part}', 'partition.json')
    if os.path.exists(p):
        r = json.load(open(p))
        print(f'\nMNIST {part}: classes held per rank: ' +
              ', '.join(str(sum(1 for h in x['histogram'] if h > 0)) for x in r['ranks']) +
              '; rows per rank: ' + ', '.join(str(x['rows']) for x in r['ranks']))

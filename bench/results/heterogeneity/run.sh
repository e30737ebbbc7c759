#!/bin/bash
# runs one job at a time; results in /tmp/wt19-het/<name>
B=bin/signsgd
cd "$(git rev-parse --show-toplevel)"
for part in shards:2 dirichlet:0.1; do
  for opt in signsgd sto-signsgd signum; do
    name=mnist-$opt-${part/:/}
    [ -f /tmp/wt19-het/$name/summary.json ] && continue
    /usr/bin/time -f "$name %e s" $B run --dataset mnist --model mlp --opt $opt --partition $part --epochs 5 --workers 9 --quiet --out /tmp/wt19-het/$name >> /tmp/wt19-het/log.txt 2>&1
  done
done
for seed in 8005 1 2; do
  for opt in signsgd sto-signsgd signum; do
    name=logreg-$opt-s$seed
    [ -f /tmp/wt19-het/$name/summary.json ] && continue
    /usr/bin/time -f "$name %e s" $B run --dataset logreg --model mlp --opt $opt --partition dirichlet:0.1 --epochs 60 --seed $seed --workers 9 --quiet --out /tmp/wt19-het/$name >> /tmp/wt19-het/log.txt 2>&1
  done
done
echo ALLDONE >> /tmp/wt19-het/log.txt

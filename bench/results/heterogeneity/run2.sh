#!/bin/bash
# after run.sh: the default rates held constant (--lr-decay 1), longer, the same for every method
B=bin/signsgd
cd "$(git rev-parse --show-toplevel)"
while ! grep -q ALLDONE /tmp/wt19-het/log.txt; do sleep 2; done
for opt in signsgd sto-signsgd signum; do
  name=logreg-const-$opt-s8005
  [ -f /tmp/wt19-het/$name/summary.json ] && continue
  /usr/bin/time -f "$name %e s" $B run --dataset logreg --model mlp --opt $opt --partition dirichlet:0.1 --epochs 300 --lr-decay 1 --seed 8005 --workers 9 --quiet --out /tmp/wt19-het/$name >> /tmp/wt19-het/log.txt 2>&1
done
for opt in signsgd sto-signsgd; do
  name=mnist-const-$opt-shards2
  [ -f /tmp/wt19-het/$name/summary.json ] && continue
  /usr/bin/time -f "$name %e s" $B run --dataset mnist --model mlp --opt $opt --partition shards:2 --epochs 12 --lr-decay 1 --workers 9 --quiet --out /tmp/wt19-het/$name >> /tmp/wt19-het/log.txt 2>&1
done
echo ALLDONE2 >> /tmp/wt19-het/log.txt

#!/bin/sh
# One mnistnet MNIST epoch of ours, then of the paper's code (issue 24's
# commands); REVERSE=1 runs the paper's first. The paper's code is expected
# in /tmp/papercode with MNIST's four files in its data/MNIST/raw/.
cd "$(dirname "$0")/../../.." || exit 1
ours() {
  echo "== ours $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf /tmp/mnistnet-ours
  /usr/bin/time -f "wall %e s" ./bin/signsgd run --dataset mnist --model mnistnet --opt signum --workers 9 --lr 1e-4 --momentum 0.9 --seed 8005 --epochs 1 --out /tmp/mnistnet-ours 2>&1 | tail -3
}
paper() {
  echo "== paper $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd /tmp/papercode && OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" /usr/bin/python3 src/main.py 9 mnist -s 8005 -n mnistnet -o signum --momentum 0.9 --lr 1e-4 -e 1 2>&1 | tr '\r' '\n' | grep -v "^ *$" | tail -2)
}
echo "== cpu $(lscpu | sed -n 's/^Model name: *//p'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
if [ -n "$REVERSE" ]; then paper; ours; else ours; paper; fi
echo "== done $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"

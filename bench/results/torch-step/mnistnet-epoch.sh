#!/bin/sh
cd /work/main
echo "== ours $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf /tmp/mnistnet-ours2
/usr/bin/time -f "wall %e s" ./bin/signsgd run --dataset mnist --model mnistnet --opt signum --workers 9 --lr 1e-4 --momentum 0.9 --seed 8005 --epochs 1 --out /tmp/mnistnet-ours2 2>&1 | tail -3
echo "== paper $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
(cd /tmp/papercode && OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" /usr/bin/python3 src/main.py 9 mnist -s 8005 -n mnistnet -o signum --momentum 0.9 --lr 1e-4 -e 1 2>&1 | tr '\r' '\n' | grep -v "^ *$" | tail -2)
echo "== sgemm after $(date -u +%H:%M:%S)"
/tmp/k.test -test.run '^$' -test.bench 'Sgemm/asm/m=1024' -test.benchtime 20x 2>&1 | grep Benchmark
echo "== done $(date -u +%H:%M:%S)"

#!/bin/sh
# Speed measurements for issue 24 and 26, run when nothing else of ours runs.
cd /work/main
echo "== start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
go test -c -o /tmp/nn.test ./job/nn
./bin/signsgd bench kernels 2>&1 | head -1
for i in 1 2 3; do
  echo "== pair $i ours $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  /tmp/nn.test -test.run '^$' -test.bench 'Step/model=' -test.benchtime 5x 2>&1 | grep -E "^Benchmark"
  echo "== pair $i torch $(date -u +%H:%M:%S)"
  /usr/bin/python3 bench/torch_step.py 2>&1 | tail -n 8
done
echo "== old (c95ce97, 2026-11-28) against new, ResNet-18, both OPENBLAS_CORETYPE=Prescott; then new under SkylakeX $(date -u +%H:%M:%S)"
for i in 1 2 3; do
  echo "old $(OPENBLAS_CORETYPE=Prescott /tmp/nn-old.test -test.run '^$' -test.bench 'Step/model=resnet18' -test.benchtime 5x 2>&1 | grep -E '^Benchmark' | awk '{print $(NF-1)}')"
  echo "new-prescott $(OPENBLAS_CORETYPE=Prescott /tmp/nn.test -test.run '^$' -test.bench 'Step/model=resnet18' -test.benchtime 5x 2>&1 | grep -E '^Benchmark' | awk '{print $(NF-1)}')"
  echo "new-skylakex $(/tmp/nn.test -test.run '^$' -test.bench 'Step/model=resnet18' -test.benchtime 5x 2>&1 | grep -E '^Benchmark' | awk '{print $(NF-1)}')"
done
echo "== mnistnet epoch, ours $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf /tmp/mnistnet-ours
/usr/bin/time -f "wall %e s" ./bin/signsgd run --dataset mnist --model mnistnet --opt signum --workers 9 --lr 1e-4 --momentum 0.9 --seed 8005 --epochs 1 --out /tmp/mnistnet-ours 2>&1 | tail -3
echo "== mnistnet epoch, the paper's code $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
(cd /tmp/papercode && OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" /usr/bin/python3 src/main.py 9 mnist -s 8005 -n mnistnet -o signum --momentum 0.9 --lr 1e-4 -e 1 2>&1 | tr '\r' '\n' | grep -v "^ *$" | tail -4)
echo "== seal cost $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
./bin/signsgd bench comm --opt signum --topology server --workers 4 --dims 11689512 --gloo off --security off,seal,auth --steps 20 --out /tmp/sec-quiet 2>&1 | tail -3

echo "== comm targets $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
cd /work/main && ./bin/signsgd bench comm --opt sgd,signsgd,signum --topology server,ring,shard --workers 2,4,8 --dims 11689512 --out /tmp/comm-targets 2>&1 | tail -3
echo "== all done $(date -u +%H:%M:%S)"

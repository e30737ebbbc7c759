#!/bin/sh
cd /work/main
./bin/signsgd bench kernels > bench/results/torch-step/chosen.txt 2>&1
go test -c -o /tmp/nn.test ./job/nn
for i in 1 2 3; do
  echo "== pair $i ours $(date -u +%H:%M:%S)"
  /tmp/nn.test -test.run '^$' -test.bench 'Step/model=' -test.benchtime 5x 2>&1 | grep -E "Benchmark|img/s"
  echo "== pair $i torch $(date -u +%H:%M:%S)"
  /usr/bin/python3 bench/torch_step.py 2>&1 | tail -n 10
done
echo "== done $(date -u +%H:%M:%S)"

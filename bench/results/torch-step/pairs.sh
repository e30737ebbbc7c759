#!/bin/sh
# Alternating pairs of BenchmarkStep (ours) and bench/torch_step.py
# (PyTorch) in one window: pairs.sh [pairs [model...]] (default 3 pairs
# of every model), from anywhere. Naming models (mlp, cnn, mnistnet,
# resnet18, resnet50) times only those, so the two sides of a pair run
# seconds apart on a machine whose speed drifts by the minute. Each model
# is timed over as many steps on both sides (torch_step.py --steps gives
# them: 200 of the mlp's, 5 of a ResNet's).
# Compare BenchmarkStep's median-samples/s with torch_step.py's
# samples_per_s, both the median step's: ratios.py LOG prints each pair's
# ratio and each model's median from this script's output.
cd "$(dirname "$0")/../../.." || exit 1
n=${1:-3}
[ $# -gt 0 ] && shift
models="$*"
# shellcheck disable=SC2086 # one argument per model
steps=$(/usr/bin/python3 bench/torch_step.py --steps $models) || exit 1
go build -o bin/signsgd ./cmd/signsgd || exit 1
# The chooser's decisions, also kept in this folder, one file per CPU
# (chosen-VENDOR-FAMILY-MODEL.txt, as the calibration tables are named).
echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'), the kernels chosen (recorded in bench/results/torch-step):"
./bin/signsgd bench kernels --record bench/results/torch-step 2>&1 || exit 1
go test -c -o /tmp/nn.test ./job/nn || exit 1
for i in $(seq "$n"); do
  echo "== pair $i ours $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "$steps" | while read -r model k; do
    /tmp/nn.test -test.run '^$' -test.bench "Step/model=$model/" -test.benchtime "${k}x" </dev/null 2>&1 | grep -E "^Benchmark"
  done
  echo "== pair $i torch $(date -u +%H:%M:%S)"
  # shellcheck disable=SC2086 # one argument per model
  /usr/bin/python3 bench/torch_step.py $models 2>&1 | tail -n 10
done
echo "== done $(date -u +%H:%M:%S)"

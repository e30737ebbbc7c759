#!/usr/bin/python3
"""Forward+backward time of PyTorch's models on the shapes of signsgd's
BenchmarkStep (job/nn/bench_test.go), so the two are compared in one run.

Needs Debian's python3-torch and python3-torchvision (CPU). Usage:
torch_step.py [--steps] [MODEL...] (default every model). Prints one line
per model: name, batch, threads, timed steps, median seconds per step,
samples/s; with --steps, only each model's name and timed steps.
"""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class TorchNet(nn.Module):
    """The paper code's MNIST cnn."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return self.fc2(x)


class MNISTNet(nn.Module):
    """The paper code's second MNIST network (mnistnet)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 64, 5, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2), nn.Dropout(0.25),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, stride=2), nn.Dropout(0.25))
        self.classifier = nn.Sequential(
            nn.Linear(3136, 128), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


# Each model's input shape, classes, threads and timed steps (after two
# warm-up steps). pairs.sh asks for the steps (--steps) and times
# BenchmarkStep over as many, so both sides' medians are of as many steps.
MODELS = {
    "mlp": ((128, 1, 28, 28), 10, 1, 200),
    "cnn": ((14, 1, 28, 28), 10, 1, 50),
    "mnistnet": ((14, 1, 28, 28), 10, 1, 20),
    "resnet18": ((8, 3, 224, 224), 1000, 2, 5),
    "resnet50": ((8, 3, 224, 224), 1000, 2, 5),
}


def build(name):
    import torchvision.models as tvm

    return {"mlp": mlp, "cnn": TorchNet, "mnistnet": MNISTNet,
            "resnet18": tvm.resnet18, "resnet50": tvm.resnet50}[name]()


def bench(name, model, shape, classes, threads, steps):
    torch.set_num_threads(threads)
    x = torch.randn(*shape)
    y = torch.randint(0, classes, (shape[0],))
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"{name} batch={shape[0]} threads={threads} steps={steps} seconds_per_step={med:.6f} samples_per_s={shape[0] / med:.2f}", flush=True)


def main():
    args = sys.argv[1:]
    steps_only = args[:1] == ["--steps"]
    if steps_only:
        args = args[1:]
    which = args or list(MODELS)
    for name in which:
        if name not in MODELS:
            sys.exit(f"torch_step.py: unknown model {name!r} (models: {', '.join(MODELS)})")
    for name in which:
        shape, classes, threads, steps = MODELS[name]
        if steps_only:
            print(name, steps)
        else:
            bench(name, build(name), shape, classes, threads, steps)


if __name__ == "__main__":
    main()

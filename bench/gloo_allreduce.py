#!/usr/bin/python3
"""fp32 allreduce with PyTorch's gloo backend on loopback: the baseline that
`signsgd bench comm` puts beside its own exchanges, in the same run.

For every d in --dims and M in --workers, M processes (rank 0 at
MASTER_ADDR 127.0.0.1, one thread each) allreduce d float32 values
(SUM, then divided by M: the mean SGD needs) --warmup times untimed, then
--reps times timed after a barrier. A repetition's time is the slowest
rank's; the script prints one JSON line per configuration:

  {"impl": "gloo", "dim": d, "workers": M, "seconds_median": s, "seconds": [...], "reps": n}

Needs Debian's python3-torch (CPU). Exit status 0 when every configuration ran.
"""
import argparse
import json
import os
import socket
import statistics
import sys
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_main(rank, world, port, dim, warmup, reps, queue):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    x = torch.randn(dim, dtype=torch.float32)
    times = []
    for i in range(warmup + reps):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        x.div_(world)
        t = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if i >= warmup:
            times.append(float(t.item()))
    dist.destroy_process_group()
    if rank == 0:
        queue.put(times)


def run(dim, world, warmup, reps):
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    for attempt in range(3):
        port = free_port()
        queue = ctx.Queue()
        procs = [ctx.Process(target=rank_main, args=(r, world, port, dim, warmup, reps, queue)) for r in range(world)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        if all(p.exitcode == 0 for p in procs):
            return queue.get()
        print(f"gloo_allreduce: d={dim} M={world}: a rank failed (attempt {attempt + 1})", file=sys.stderr)
    raise SystemExit(f"gloo_allreduce: d={dim} M={world}: failed 3 times")


def ints(s):
    return [int(v) for v in s.split(",") if v]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dims", type=ints, default=[11689512, 25557032])
    ap.add_argument("--workers", type=ints, default=[2, 4, 8, 16])
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for dim in a.dims:
        for world in a.workers:
            times = run(dim, world, a.warmup, a.reps)
            print(json.dumps({"impl": "gloo", "dim": dim, "workers": world,
                              "seconds_median": statistics.median(times),
                              "seconds": times, "reps": len(times)}), flush=True)


if __name__ == "__main__":
    main()

"""Shared by the benchmark scripts: timing PyTorch peers and running a heed
benchmark binary with the same thread count."""
import argparse
import json
import os
import statistics
import subprocess
import time

import torch


def median_us(fn, repeats, iters):
    """Median over `repeats` of the mean time of `iters` calls, after one warm-up call."""
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        out.append((time.perf_counter() - t) / iters * 1e6)
    return statistics.median(out)


def parse_args(default_bin, repeats=5, extra=()):
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=default_bin)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=repeats)
    for flag, kw in extra:
        p.add_argument(flag, **kw)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    return a


def run_heed(a, *more):
    """Runs the heed benchmark binary with the same threads; returns its JSON rows."""
    out = subprocess.run([a.bin, "--threads", str(a.threads), "--repeats", str(a.repeats), *more], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

#!/usr/bin/env python3
"""Per-op figures for docs/benchmarks.md: heed vs the same raw oneDNN primitive
(from bench/heed_bench_ops) and vs PyTorch eager, same shapes and thread count,
in one run. Prints a Markdown table.

  python3 bench/op_overhead.py --bin build/bench/heed_bench_ops --threads 2
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F

K, N = 512, 2048


def torch_us(fn, repeats, iters):
    for _ in range(20):
        fn()
    means = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        means.append((time.perf_counter() - t) / iters * 1e6)
    return statistics.median(means)


def torch_cases(m):
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(m, K, generator=g), torch.randn(N, K, generator=g) * 0.05
    b = torch.randn(K, N, generator=g)
    y = torch.randn(m, N, generator=g)
    gam, bet = torch.randn(N, generator=g), torch.randn(N, generator=g)
    return {"Linear": lambda: F.linear(x, w), "MatMul": lambda: torch.matmul(x, b),
            "Softmax": lambda: torch.softmax(y, -1), "LayerNorm": lambda: F.layer_norm(y, (N,), gam, bet)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default="build/bench/heed_bench_ops")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--iters", type=int, default=50)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = subprocess.run([a.bin, "--threads", str(a.threads), "--repeats", str(a.repeats), "--iters", str(a.iters)],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    with torch.no_grad():
        for r in rows:
            if r["op"] == "Relu chain":  # per node: 100 torch.relu calls on [1, 64]
                x = torch.randn(1, 64)

                def chain():
                    y = x
                    for _ in range(r["nodes"]):
                        y = torch.relu(y)
                r["torch_us"] = torch_us(chain, a.repeats, a.iters) / r["nodes"]
            else:
                r["torch_us"] = torch_us(torch_cases(r["m"])[r["op"]], a.repeats, a.iters)
    print(f"threads {a.threads}, torch {torch.__version__}; medians of {a.repeats} x {a.iters} calls\n")
    print("| op | shape | heed us | raw oneDNN us | heed overhead us | PyTorch us | PyTorch / heed |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        shape = f"{r['m']}x{K} @ {K}x{N}" if r["op"] in ("Linear", "MatMul") else f"{r['m']}x{N}"
        if r["op"] == "Relu chain":
            shape = f"1x64, per node of {r['nodes']}"
        print(f"| {r['op']} | {shape} | {r['heed_us']:.1f} | {r['onednn_us']:.1f} | {r['overhead_us']:+.2f} | "
              f"{r['torch_us']:.1f} | {r['torch_us'] / r['heed_us']:.2f}x |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Per-op figures for docs/benchmarks.md: heed vs the same raw oneDNN primitive
(from bench/heed_bench_ops) and vs PyTorch eager, same shapes and thread count,
in one run. Prints a Markdown table.

  python3 bench/op_overhead.py --bin build/bench/heed_bench_ops --threads 2
"""

import torch
import torch.nn.functional as F

from peers import median_us, parse_args, run_heed

K, N = 512, 2048


def torch_us(fn, repeats, iters):
    for _ in range(19):
        fn()
    return median_us(fn, repeats, iters)


def torch_cases(m):
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(m, K, generator=g), torch.randn(N, K, generator=g) * 0.05
    b = torch.randn(K, N, generator=g)
    y = torch.randn(m, N, generator=g)
    gam, bet = torch.randn(N, generator=g), torch.randn(N, generator=g)
    return {"Linear": lambda: F.linear(x, w), "MatMul": lambda: torch.matmul(x, b),
            "Softmax": lambda: torch.softmax(y, -1), "LayerNorm": lambda: F.layer_norm(y, (N,), gam, bet)}


def main():
    a = parse_args("build/bench/heed_bench_ops", repeats=9, extra=[("--iters", {"type": int, "default": 50})])
    rows = run_heed(a, "--iters", str(a.iters))
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

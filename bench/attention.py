#!/usr/bin/env python3
"""Attention figures for docs/benchmarks.md: runs bench/heed_bench_attention and the
same work in PyTorch eager (same threads, same shapes), prints Markdown tables.

  python3 bench/attention.py --bin build/bench/heed_bench_attention --threads 2
"""
import torch
import torch.nn.functional as F

from peers import median_us, parse_args, run_heed

E, H, DH = 512, 8, 64


def torch_mha(batch, length, repeats, iters):
    mha = torch.nn.MultiheadAttention(E, H, batch_first=True).eval()
    x = torch.randn(batch, length, E)
    return median_us(lambda: mha(x, x, x, need_weights=False), repeats, iters)


def torch_decode(cache_len, repeats):
    """One cached step as a PyTorch user writes it: project, write into a
    preallocated cache, attend over the filled part, project out."""
    w_in, b_in = torch.randn(3 * E, E) * 0.05, torch.randn(3 * E) * 0.05
    w_out, b_out = torch.randn(E, E) * 0.05, torch.randn(E) * 0.05
    ck, cv = torch.randn(1, H, 1040, DH), torch.randn(1, H, 1040, DH)
    x = torch.randn(1, 1, E)
    pos = cache_len - 1

    def step():
        q, k, v = F.linear(x, w_in, b_in).split(E, -1)
        ck[:, :, pos] = k.view(1, H, DH)
        cv[:, :, pos] = v.view(1, H, DH)
        o = F.scaled_dot_product_attention(q.view(1, 1, H, DH).transpose(1, 2), ck[:, :, :pos + 1],
                                           cv[:, :, :pos + 1])
        return F.linear(o.transpose(1, 2).reshape(1, 1, E), w_out, b_out)
    return median_us(step, repeats, 200)


def torch_local_dense(n, repeats):
    """The band as a dense masked attention: what PyTorch offers without a custom kernel."""
    q, k, v = (torch.randn(1, n, 64) for _ in range(3))
    idx = torch.arange(n)
    mask = torch.zeros(n, n).masked_fill((idx[None, :] - idx[:, None]).abs() > 32, float("-inf"))
    return median_us(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), repeats, 1)


def torch_core(length, repeats, iters):
    q, k, v = (torch.randn(1, H, length, DH) for _ in range(3))
    return median_us(lambda: F.scaled_dot_product_attention(q, k, v), repeats, iters)


def fma_peak(bench_bin, threads):
    """This machine's FP32 FMA peak at `threads` (heed_bench_fma_peak beside the attention benchmark; the
    widest vectors it reports), or None when that binary is not there."""
    import os
    import re
    import subprocess
    path = os.path.join(os.path.dirname(bench_bin), "heed_bench_fma_peak")
    if not os.path.exists(path):
        return None
    out = subprocess.run([path], env={**os.environ, "OMP_NUM_THREADS": str(threads)}, capture_output=True,
                         text=True).stdout
    return max(float(g) for g in re.findall(r"peak: ([0-9.]+) GFLOP/s", out))


def main():
    a = parse_args("build/bench/heed_bench_attention")
    rows = run_heed(a)
    print(f"threads {a.threads}, torch {torch.__version__}, medians of {a.repeats} repeats\n")
    with torch.no_grad():
        print("MultiHeadAttention, self-attention, d_model 512, 8 heads (no mask, no weights returned)\n")
        print("| batch | length | heed ms | PyTorch ms | PyTorch / heed | oneDNN GEMMs alone ms | heed / GEMMs |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for r in (r for r in rows if r["bench"] == "mha"):
            t = torch_mha(r["batch"], r["len"], a.repeats, r["iters"])
            print(f"| {r['batch']} | {r['len']} | {r['heed_us'] / 1e3:.2f} | {t / 1e3:.2f} | {t / r['heed_us']:.2f}x | "
                  f"{r['gemm_limit_us'] / 1e3:.2f} | {r['heed_us'] / r['gemm_limit_us']:.2f}x |")
        bf16 = [r for r in rows if r["bench"] == "mha_bf16"]
        if bf16:
            print("\nThe same in bf16: heed's projections in bf16 (`precision` bf16, its core fp32), PyTorch under "
                  "torch.autocast(\"cpu\", torch.bfloat16)\n")
            print("| batch | length | heed bf16 ms | PyTorch bf16 ms | PyTorch / heed |")
            print("|---:|---:|---:|---:|---:|")
            for r in bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    t = torch_mha(r["batch"], r["len"], a.repeats, r["iters"])
                print(f"| {r['batch']} | {r['len']} | {r['heed_us'] / 1e3:.2f} | {t / 1e3:.2f} | {t / r['heed_us']:.2f}x |")
        print("\nDecode step with a KV cache (batch 1, one new token, d_model 512, 8 heads)\n")
        print("| cache length | heed us | PyTorch us | PyTorch / heed |")
        print("|---:|---:|---:|---:|")
        for r in (r for r in rows if r["bench"] == "decode"):
            t = torch_decode(r["cache_len"], a.repeats)
            print(f"| {r['cache_len']} | {r['heed_us']:.1f} | {t:.1f} | {t / r['heed_us']:.2f}x |")
        print("\nLocalAttention, left = right = 32 (65 keys a query), head size 64, batch 1\n")
        print("| length | heed ms | heed us per 1k queries | PyTorch dense band mask ms |")
        print("|---:|---:|---:|---:|")
        for r in (r for r in rows if r["bench"] == "local"):
            dense = f"{torch_local_dense(r['len'], 3) / 1e3:.1f}" if r["len"] <= 8192 else "(n x n mask: 1 GiB)"
            print(f"| {r['len']} | {r['heed_us'] / 1e3:.2f} | {r['us_per_1k_queries']:.0f} | {dense} |")
        peak = fma_peak(a.bin, a.threads)
        print("\nAttention core: ScaledDotProductAttention, batch 1, 8 heads of 64, self-attention, no mask"
              f" (FP32 FMA peak at {a.threads} threads: " + (f"{peak:.0f} GFLOP/s)\n" if peak else "not measured)\n"))
        print("| length | heed ms | heed GFLOP/s | of FMA peak | PyTorch SDPA ms | PyTorch / heed |")
        print("|---:|---:|---:|---:|---:|---:|")
        for r in (r for r in rows if r["bench"] == "core"):
            t = torch_core(r["len"], a.repeats, r["iters"])
            share = f"{r['gflops'] / peak:.0%}" if peak else "-"
            print(f"| {r['len']} | {r['heed_us'] / 1e3:.2f} | {r['gflops']:.0f} | {share} | {t / 1e3:.2f} | "
                  f"{t / r['heed_us']:.2f}x |")


if __name__ == "__main__":
    main()

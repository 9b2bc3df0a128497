#!/usr/bin/env python3
"""Attention figures for docs/benchmarks.md: runs bench/heed_bench_attention and the
same work in PyTorch eager (same threads, same shapes), prints Markdown tables.

  python3 bench/attention.py --bin build/bench/heed_bench_attention --threads 2 [--rounds 3]

--rounds R: the MultiHeadAttention and core tables from R heed processes, each
followed by the PyTorch rows (taking turns, as the machine's speed drifts); each
row shows the medians and the median of the R ratios with their range.
"""
import statistics

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


def torch_core(length, repeats, iters, dtype=torch.float32):
    q, k, v = (torch.randn(1, H, length, DH).to(dtype) for _ in range(3))
    return median_us(lambda: F.scaled_dot_product_attention(q, k, v), repeats, iters)


def peaks(bench_bin, threads):
    """This machine's FP32 FMA peak (the widest vectors) and AMX BF16 peak at `threads`, from
    heed_bench_fma_peak beside the attention benchmark; None for each it does not report."""
    import os
    import re
    import subprocess
    path = os.path.join(os.path.dirname(bench_bin), "heed_bench_fma_peak")
    if not os.path.exists(path):
        return None, None
    out = subprocess.run([path], env={**os.environ, "OMP_NUM_THREADS": str(threads)}, capture_output=True,
                         text=True).stdout
    fma = [float(g) for g in re.findall(r"FP32 FMA peak: ([0-9.]+) GFLOP/s", out)]
    amx = [float(g) for g in re.findall(r"AMX BF16 peak: ([0-9.]+) GFLOP/s", out)]
    return (max(fma) if fma else None), (amx[0] if amx else None)


def share(gflops, peak):
    return f"{gflops / peak:.0%}" if peak else "-"


def table(title, columns, rows, cells):
    """Prints `title` and a Markdown table of cells(r) for each heed row r; nothing without rows."""
    if not rows:
        return
    print(f"\n{title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---:|" * len(columns))
    for r in rows:
        print("| " + " | ".join(cells(r)) + " |")


def ms(us):
    return f"{us / 1e3:.2f}"


def ratio(row):
    """PyTorch / heed: the median of the rounds' ratios, and their range when there are several."""
    rs = sorted(t / h for h, t in zip(row["heed_all"], row["peer_all"]))
    return f"{statistics.median(rs):.2f}x" + (f" ({rs[0]:.2f}-{rs[-1]:.2f})" if len(rs) > 1 else "")


def taking_turns(a, names, peer):
    """The rows of benchmarks `names` over a.rounds heed processes, each followed by peer(row) for every row:
    per row its first round's fields with heed_us and peer_us the medians, heed_all and peer_all every round's."""
    rows = {}
    for _ in range(a.rounds):
        for r in run_heed(a, "--only", ",".join(names)):
            row = rows.setdefault((r["bench"], r.get("batch"), r["len"]), dict(r, heed_all=[], peer_all=[]))
            row["heed_all"].append(r["heed_us"])
            row["peer_all"].append(peer(r))
    for row in rows.values():
        row["heed_us"], row["peer_us"] = statistics.median(row["heed_all"]), statistics.median(row["peer_all"])
        if "gflops" in row:
            row["gflops"] *= row["heed_all"][0] / row["heed_us"]
    return list(rows.values())


def main():
    a = parse_args("build/bench/heed_bench_attention", extra=[("--rounds", {"type": int, "default": 1})])
    print(f"threads {a.threads}, torch {torch.__version__}, medians of {a.repeats} repeats, {a.rounds} round(s)")
    peak, amx = peaks(a.bin, a.threads)

    def peer(r):
        if r["bench"] in ("mha", "mha_bf16"):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=r["bench"] == "mha_bf16"):
                return torch_mha(r["batch"], r["len"], a.repeats, r["iters"])
        return torch_core(r["len"], a.repeats, r["iters"], torch.bfloat16 if r["bench"] == "core_bf16" else torch.float32)

    def mha(r):
        cells = [str(r["batch"]), str(r["len"]), ms(r["heed_us"]), ms(r["peer_us"]), ratio(r)]
        if r["bench"] == "mha":
            cells += [ms(r["gemm_limit_us"]), f"{r['heed_us'] / r['gemm_limit_us']:.2f}x"]
        return cells

    def decode(r):
        t = torch_decode(r["cache_len"], a.repeats)
        return [str(r["cache_len"]), f"{r['heed_us']:.1f}", f"{t:.1f}", f"{t / r['heed_us']:.2f}x"]

    def local(r):
        dense = f"{torch_local_dense(r['len'], 3) / 1e3:.1f}" if r["len"] <= 8192 else "(n x n mask: 1 GiB)"
        return [str(r["len"]), ms(r["heed_us"]), f"{r['us_per_1k_queries']:.0f}", dense]

    def core(r):
        shares = [share(r["gflops"], peak)] + ([share(r["gflops"], amx)] if r["bench"] == "core_bf16" else [])
        return [str(r["len"]), ms(r["heed_us"]), f"{r['gflops']:.0f}", *shares, ms(r["peer_us"]), ratio(r)]

    def at_peak(name, value):
        return f"{name} peak at {a.threads} threads: " + (f"{value:.0f} GFLOP/s" if value else "not measured")

    with torch.no_grad():
        turns = taking_turns(a, ["mha", "mha_bf16", "core", "core_bf16"], peer)
        of = lambda name: [r for r in turns if r["bench"] == name]  # noqa: E731
        table("MultiHeadAttention, self-attention, d_model 512, 8 heads (no mask, no weights returned)",
              ["batch", "length", "heed ms", "PyTorch ms", "PyTorch / heed", "oneDNN GEMMs alone ms", "heed / GEMMs"],
              of("mha"), mha)
        table("The same in bf16: heed's projections and core in bf16 (`precision` bf16; the core on AMX where the "
              "CPU has it, else fp32), PyTorch under torch.autocast(\"cpu\", torch.bfloat16)",
              ["batch", "length", "heed bf16 ms", "PyTorch bf16 ms", "PyTorch / heed"], of("mha_bf16"), mha)
        others = run_heed(a, "--only", "decode,local")
        table("Decode step with a KV cache (batch 1, one new token, d_model 512, 8 heads)",
              ["cache length", "heed us", "PyTorch us", "PyTorch / heed"], [r for r in others if r["bench"] == "decode"],
              decode)
        table("LocalAttention, left = right = 32 (65 keys a query), head size 64, batch 1",
              ["length", "heed ms", "heed us per 1k queries", "PyTorch dense band mask ms"],
              [r for r in others if r["bench"] == "local"], local)
        table("Attention core: ScaledDotProductAttention, batch 1, 8 heads of 64, self-attention, no mask "
              f"({at_peak('FP32 FMA', peak)})",
              ["length", "heed ms", "heed GFLOP/s", "of FMA peak", "PyTorch SDPA ms", "PyTorch / heed"], of("core"), core)
        table("The core in bf16 (AMX tiles; inputs and probabilities rounded to bf16, sums fp32) against PyTorch's "
              f"SDPA on bf16 tensors ({at_peak('AMX BF16', amx)})",
              ["length", "heed ms", "heed GFLOP/s", "of FP32 FMA peak", "of AMX peak", "PyTorch bf16 ms",
               "PyTorch / heed"], of("core_bf16"), core)


if __name__ == "__main__":
    main()

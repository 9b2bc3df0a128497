#!/usr/bin/env python3
"""Recurrent and convolutional figures for docs/benchmarks.md: runs
bench/heed_bench_models and the same modules in PyTorch eager (same threads),
prints a Markdown table.

  python3 bench/models.py --bin build/bench/heed_bench_models --threads 2
"""
import torch

from peers import median_us, parse_args, run_heed


def peers(repeats):
    lstm = torch.nn.LSTM(512, 512, num_layers=2).eval()
    x = torch.randn(32, 8, 512)
    cell = torch.nn.LSTMCell(512, 512).eval()
    cx, ch, cc = torch.randn(1, 512), torch.randn(1, 512), torch.randn(1, 512)
    out = {"lstm": median_us(lambda: lstm(x), repeats, 10), "lstm_cell": median_us(lambda: cell(cx, (ch, cc)), repeats, 200)}
    try:
        import torchvision
        net = torchvision.models.resnet50(weights=None).eval()
        for b in (1, 8):
            img = torch.randn(b, 3, 224, 224)
            out[f"resnet50/{b}"] = median_us(lambda: net(img), repeats, 5 if b == 1 else 1)
    except ImportError:
        pass
    return out


def main():
    a = parse_args("build/bench/heed_bench_models")
    rows = run_heed(a)
    with torch.no_grad():
        t = peers(a.repeats)
    names = {"lstm": "LSTM, 2 layers, 512 -> 512, seq 32, batch 8", "lstm_cell": "LSTMCell 512 -> 512, one step, batch 1",
             "resnet50": "ResNet-50, 224x224"}
    print(f"threads {a.threads}, torch {torch.__version__}, medians of {a.repeats} repeats\n")
    print("| model | batch | heed ms | PyTorch ms | PyTorch / heed |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        key = r["bench"] + (f"/{r['batch']}" if "batch" in r else "")
        batch = r.get("batch", 8 if r["bench"] == "lstm" else 1)
        peer = t.get(key)
        ratio = f"{peer / r['heed_us']:.2f}x" if peer else "-"
        print(f"| {names[r['bench']]} | {batch} | {r['heed_us'] / 1e3:.3f} | "
              f"{peer / 1e3 if peer else float('nan'):.3f} | {ratio} |")


if __name__ == "__main__":
    main()

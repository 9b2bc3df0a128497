#!/usr/bin/env python3
"""ResNet-50 in int8 (issue 17): heed against PyTorch's own int8 for CNNs, same
machine, threads and random weights (torchvision's ResNet-50, 224x224).

  heed dynamic     the ONNX export loaded with --precision int8 (activation
                   scales measured on every run)
  heed calibrated  `heed quantize --precision int8 --calibrate` on the batch
                   itself: activations pass between convolutions as u8/i8
  PyTorch int8     fx static quantization, the x86 backend's default qconfig,
                   calibrated on the same batch
  (fp32 rows of both for reference)

Engines take turns (--rounds), each row the median of --repeats timed runs after
a warm-up; heed through `heed run --repeat` in its own process, PyTorch in this
one with torch.set_num_threads(--threads).

  python3 bench/resnet_int8.py --heed build/heed --threads 2 --batches 1,8 --rounds 3
"""
import argparse
import os
import re
import statistics
import subprocess
import time

import numpy as np
import torch
import torchvision
from safetensors.numpy import save_file

DIR = "/tmp/heed-resnet-int8"


def export(batch):
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    x = torch.from_numpy(np.random.default_rng(batch).standard_normal((batch, 3, 224, 224)).astype(np.float32))
    onnx = f"{DIR}/resnet50-b{batch}.onnx"
    if not os.path.exists(onnx):
        torch.onnx.export(model, (x,), onnx, input_names=["pixel_values"], output_names=["logits"], opset_version=17,
                          dynamo=False)
    inputs = f"{DIR}/resnet50-b{batch}.inputs.safetensors"
    save_file({"pixel_values": x.numpy()}, inputs)
    return model, x, onnx, inputs


def heed_ms(heed, model, inputs, precision, threads, repeats):
    cmd = [heed, "run", model, "--inputs", inputs, "--repeat", str(repeats), "--threads", str(threads)]
    r = subprocess.run(cmd + (["--precision", precision] if precision else []), capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    return float(re.search(r"median ([0-9.]+) ms", r.stdout + r.stderr).group(1))


def torch_ms(module, x, repeats):
    with torch.no_grad():
        module(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            module(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def torch_int8(model, x):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    prepared = prepare_fx(model, get_default_qconfig_mapping("x86"), (x,))
    with torch.no_grad():
        prepared(x)
    return convert_fx(prepared)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heed", default="build/heed")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(DIR, exist_ok=True)
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}; torch {torch.__version__}; ms per batch, median of {args.repeats}, "
          f"{args.rounds} alternated rounds (range)\n")
    print("| batch | heed fp32 | heed int8 dynamic | heed int8 calibrated | PyTorch fp32 | PyTorch int8 (fx) "
          "| calibrated vs PyTorch int8 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for batch in [int(b) for b in args.batches.split(",")]:
        model, x, onnx, inputs = export(batch)
        calibrated = f"{DIR}/resnet50-b{batch}-int8-calibrated.safetensors"
        subprocess.run([args.heed, "quantize", onnx, "-o", calibrated, "--precision", "int8", "--calibrate", inputs],
                       check=True, capture_output=True)
        q = torch_int8(model, x)
        runs = {k: [] for k in ("hf", "hd", "hc", "tf", "tq")}
        for _ in range(args.rounds):
            runs["hf"].append(heed_ms(args.heed, onnx, inputs, None, args.threads, args.repeats))
            runs["tf"].append(torch_ms(model, x, args.repeats))
            runs["hd"].append(heed_ms(args.heed, onnx, inputs, "int8", args.threads, args.repeats))
            runs["hc"].append(heed_ms(args.heed, calibrated, inputs, None, args.threads, args.repeats))
            runs["tq"].append(torch_ms(q, x, args.repeats))
        med = {k: statistics.median(v) for k, v in runs.items()}
        ratios = [t / h for t, h in zip(runs["tq"], runs["hc"])]
        print(f"| {batch} | {med['hf']:.1f} | {med['hd']:.1f} | {med['hc']:.1f} | {med['tf']:.1f} | {med['tq']:.1f} "
              f"| {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |", flush=True)


if __name__ == "__main__":
    main()

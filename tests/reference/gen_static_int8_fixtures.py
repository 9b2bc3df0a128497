#!/usr/bin/env python3
"""Writes tests/fixtures/quantized/static.json, static_io.safetensors and
static_sample.safetensors (the input alone, for the CLI tests): a small
convolution stack with calibrated activation ranges (ir::Graph's
activation_ranges, as `heed quantize --calibrate` stores them) and what int8
with those fixed scales computes for it (docs/precision.md, "Calibrated int8"),
here in PyTorch without heed: `y`, and `y.7bit` with the 7-bit weights of CPUs
without AVX-512 VNNI.

  img -> conv1 (3x3, relu) -> a (u8) -> max pool (3, stride 2, pad 1) -> p (u8, a's scale)
  p -> short (1x1, no relu) -> d (i8: it has negatives)
  p -> conv3 (3x3, relu) -> b (u8)
  b -> conv4 (1x1, + d, relu) -> e (u8)            an i8 residual added into a u8 output
  e -> conv5 (1x1, + e, relu) -> y (fp32 output)   a u8 residual added into an fp32 output

The ranges are the fp32 model's min and max over the input (what calibration
on it measures; the test checks `heed quantize --calibrate` finds them too).
Where an integer conv over u8 input at a fixed output scale has a PyTorch
kernel (torch.ops.quantized.conv2d, fbgemm/x86: conv3 here), the script checks
the emulation against it: the integers agree but for rounding ties.

Run: python3 tests/reference/gen_static_int8_fixtures.py   (needs torch, safetensors)
"""
import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from lowp_schemes import quantize_rows, static_int8_conv, static_quantize, static_scale

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "quantized")
torch.manual_seed(20261204)

CONVS = {  # name: (in, out, kernel, padding)
    "conv1": (5, 12, 3, 1), "short": (12, 16, 1, 0), "conv3": (12, 10, 3, 1), "conv4": (10, 16, 1, 0),
    "conv5": (16, 16, 1, 0)}


def fp32_model(img, w):
    conv = lambda x, n, res=None: F.conv2d(x, w[n + ".w"], w[n + ".b"], padding=CONVS[n][3]) + (
        res if res is not None else 0.0)
    a = F.relu(conv(img, "conv1"))
    p = F.max_pool2d(a, 3, 2, 1)
    d = conv(p, "short")
    b = F.relu(conv(p, "conv3"))
    e = F.relu(conv(b, "conv4", d))
    y = F.relu(conv(e, "conv5", e))
    return {"img": img, "a": a, "p": p, "d": d, "b": b, "e": e, "y": y}


def static_model(img, w, ranges, levels=127.0):
    s = {v: static_scale(*ranges[v]) for v in ranges}
    conv = lambda qx, sx, n, **kw: static_int8_conv(qx, sx, w[n + ".w"], w[n + ".b"], padding=CONVS[n][3],  # noqa
                                                    levels=levels, **kw)
    q_img = static_quantize(img, *s["img"])
    q_a = conv(q_img, s["img"][0], "conv1", relu=True, out=s["a"])
    q_p = F.max_pool2d(q_a, 3, 2, 1)  # the integers' max, at a's scale
    sp = s["a"][0]
    q_d = conv(q_p, sp, "short", out=s["d"])
    q_b = conv(q_p, sp, "conv3", relu=True, out=s["b"])
    q_e = conv(q_b, s["b"][0], "conv4", res=q_d * s["d"][0], relu=True, out=s["e"])
    y = conv(q_e, s["e"][0], "conv5", res=q_e * s["e"][0], relu=True)
    return y, q_p, q_b, s


def check_against_fbgemm(q_p, sp, q_b, sb, w):
    """conv3 (u8 in, u8 out, relu) through PyTorch's own quantized conv."""
    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    wt = w["conv3.w"]
    qw, sw = quantize_rows(wt.reshape(wt.shape[0], -1))
    wq = torch._make_per_channel_quantized_tensor(qw.reshape(wt.shape).to(torch.int8), sw.reshape(-1).double(),
                                                  torch.zeros(wt.shape[0], dtype=torch.long), 0)
    xq = torch._make_per_tensor_quantized_tensor(q_p.to(torch.uint8), float(sp), 0)
    packed = torch.ops.quantized.conv2d_prepack(wq, w["conv3.b"], [1, 1], [1, 1], [1, 1], 1)
    out = torch.ops.quantized.conv2d_relu(xq, packed, float(sb), 0)
    diff = (out.int_repr().float() - q_b).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 0.01, (diff.max(), (diff > 0).float().mean())
    return int(diff.max()), float((diff > 0).float().mean())


def graph(ranges):
    nodes = [
        ("conv1", ["img", "conv1.w", "conv1.b"], "a", {"padding": [1], "activation": "relu"}),
        ("short", ["p", "short.w", "short.b"], "d", {}),
        ("conv3", ["p", "conv3.w", "conv3.b"], "b", {"padding": [1], "activation": "relu"}),
        ("conv4", ["b", "conv4.w", "conv4.b", "d"], "e", {"activation": "relu"}),
        ("conv5", ["e", "conv5.w", "conv5.b", "e"], "y", {"activation": "relu"})]
    g = {"inputs": [{"name": "img", "dtype": "f32", "shape": ["batch", 5, 9, 9]}], "outputs": ["y"],
         "parameters": [f"{n}.{k}" for n in CONVS for k in ("w", "b")],
         "nodes": [{"name": n, "op": "Conv2d", "inputs": i, "outputs": [o], "attrs": a} for n, i, o, a in nodes],
         "activation_ranges": {v: list(r) for v, r in ranges.items()}}
    g["nodes"].insert(1, {"name": "pool", "op": "MaxPool2d", "inputs": ["a"], "outputs": ["p"],
                          "attrs": {"kernel_size": [3], "stride": [2], "padding": [1]}})
    return {"format": "heed.graph", "version": 1, "weights": "static.safetensors", "graphs": {"main": g}}


def main():
    os.makedirs(OUT, exist_ok=True)
    w = {}
    for n, (ci, co, k, _) in CONVS.items():
        w[n + ".w"] = torch.randn(co, ci, k, k) / (ci * k * k) ** 0.5
        w[n + ".b"] = torch.randn(co) * 0.1
    img = torch.randn(2, 5, 9, 9)
    with torch.no_grad():
        acts = fp32_model(img, w)
    ranges = {v: (float(t.min()), float(t.max())) for v, t in acts.items() if v != "y"}
    y, q_p, q_b, s = static_model(img, w, ranges)
    worst, share = check_against_fbgemm(q_p, s["a"][0], q_b, s["b"][0], w)
    print(f"conv3 against torch.ops.quantized.conv2d_relu: integers within {worst}, {share:.2%} differ")
    print(f"static int8 y vs fp32: worst {float((y - acts['y']).abs().max()):.4f} of {float(acts['y'].abs().max()):.4f}")
    save_file(w, os.path.join(OUT, "static.safetensors"))
    with open(os.path.join(OUT, "static.json"), "w") as f:
        json.dump(graph(ranges), f, indent=1)
    y7 = static_model(img, w, ranges, levels=63.0)[0]  # 7-bit weights: CPUs without AVX-512 VNNI
    print(f"7-bit weights: worst {float((y7 - acts['y']).abs().max()):.4f}")
    save_file({"img": img, "y": y, "y.7bit": y7, "y.f32": acts["y"],
               **{f"range.{v}": torch.tensor(r) for v, r in ranges.items()}},
              os.path.join(OUT, "static_io.safetensors"))
    save_file({"img": img}, os.path.join(OUT, "static_sample.safetensors"))  # `heed quantize --calibrate` input


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes tests/fixtures/quantized/: models whose weights are stored quantized,
as `heed quantize` stores them (docs/precision.md, "Quantized files"), written
here without heed, and what PyTorch computes for them.

  int8.safetensors, bf16.safetensors  one graph over stored weights: Linear,
      MatMul by a constant right and left matrix (channels along axis 1 and 0),
      Conv2d, LSTMCell, and a Gather of the Linear's weight (a second reader, as
      Marian's tied embeddings). The int8 values are not what quantizing their
      f32 values again would give (no channel reaches 127): a loader that
      re-quantized instead of taking them as they are would be caught.
  io.safetensors  the inputs; per output `<name>.int8` / `<name>.bf16` (the
      precision's scheme on the stored values, tests/reference/lowp_schemes.py)
      and `<name>.f32_from_int8` / `<name>.f32_from_bf16` (fp32 arithmetic on
      the values the weights stand for: loading in another precision);
      `conv.int8_7bit`: the convolution where its weight takes 7 bits (no
      AVX-512 VNNI), quantized again from the values it stands for;
      `scheme.*`: f32 weights with the int8 values and scales, and bf16 values,
      that storing them must give (ties, a zero channel, axis 1).

Run: python3 tests/reference/gen_quantized_fixtures.py   (needs torch, safetensors)
"""
import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from lowp_schemes import (bf16_conv, bf16_linear, int8_conv, int8_conv_stored, int8_linear_stored, lstm_cell_gates,
                          quantize_rows)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "quantized")
torch.manual_seed(20261205)


def r(*shape):
    return torch.randn(*shape)


def int8_weight(n, k_shape):
    """int8 values in [-100, 100] (a zero channel among them) and scales per channel."""
    q = torch.randint(-100, 101, (n, *k_shape)).float()
    q[1] = 0.0
    s = torch.rand(n) * 0.02 + 0.001
    s[1] = 0.0
    return q, s


def graph():
    node = lambda name, op, ins, outs, attrs=None: {"name": name, "op": op, "inputs": ins, "outputs": outs,
                                                    "attrs": attrs or {}}
    return {"format": "heed.graph", "version": 1, "graphs": {"main": {
        "inputs": [{"name": "x", "dtype": "f32", "shape": [3, 24]}, {"name": "xl", "dtype": "f32", "shape": [2, 24, 5]},
                   {"name": "img", "dtype": "f32", "shape": [2, 6, 7, 7]},
                   {"name": "h", "dtype": "f32", "shape": [3, 16]}, {"name": "c", "dtype": "f32", "shape": [3, 16]},
                   {"name": "ids", "dtype": "i64", "shape": [4]}],
        "outputs": ["lin", "right", "left", "conv", "h1", "c1", "rows"],
        "parameters": ["W1", "b1", "W2", "A", "Wc", "bc", "Wih", "Whh", "bih", "bhh"],
        "nodes": [node("lin", "Linear", ["x", "W1", "b1"], ["lin"], {"activation": "relu"}),
                  node("right", "MatMul", ["lin", "W2"], ["right"]),
                  node("left", "MatMul", ["A", "xl"], ["left"]),
                  node("conv", "Conv2d", ["img", "Wc", "bc"], ["conv"], {"padding": [1]}),
                  node("cell", "LSTMCell", ["x", "h", "c", "Wih", "Whh", "bih", "bhh"], ["h1", "c1"]),
                  node("rows", "Gather", ["W1", "ids"], ["rows"])]}}}


def outputs(inp, w, lin, conv):
    """The graph's outputs with weights `w` (f32 values or stored forms) and GEMMs lin / conv."""
    y = F.relu(lin(inp["x"], w["W1"], w["b1"]))
    right = lin(y, w["W2"], None)
    cols = inp["xl"].transpose(1, 2).reshape(-1, 24)
    left = lin(cols, w["A"], None).reshape(2, 5, 10).transpose(1, 2)
    h1, c1 = lstm_cell_gates(lin, inp["x"], inp["h"], inp["c"], w["Wih"], w["Whh"], w["bih"], w["bhh"])
    return {"lin": y, "right": right, "left": left, "conv": conv(inp["img"], w["Wc"], w["bc"]), "h1": h1, "c1": c1}


def main():
    os.makedirs(OUT, exist_ok=True)
    inp = {"x": r(3, 24), "xl": r(2, 24, 5), "img": F.relu(r(2, 6, 7, 7)), "h": r(3, 16), "c": r(3, 16),
           "ids": torch.tensor([0, 1, 15, 3])}
    bias = {"b1": r(16), "bc": r(8), "bih": r(64), "bhh": r(64)}
    # int8: values and scales per output channel; W2 [in, out] has its channels along axis 1.
    q = {"W1": int8_weight(16, (24,)), "A": int8_weight(10, (24,)), "Wc": int8_weight(8, (6, 3, 3)),
         "Wih": int8_weight(64, (24,)), "Whh": int8_weight(64, (16,))}
    q2, s2 = int8_weight(12, (16,))
    values = {name: qv * sv.reshape(-1, *([1] * (qv.dim() - 1))) for name, (qv, sv) in q.items()}
    values["W2"] = (q2 * s2.reshape(-1, 1)).T.contiguous()
    axis = {"W1": 0, "A": 0, "Wc": 0, "Wih": 0, "Whh": 0, "W2": 1}
    stored_q = {**{n: (qv, sv) for n, (qv, sv) in q.items()}, "W2": (q2, s2)}  # channels first

    io = {k: v for k, v in inp.items()}
    # int8 on the stored values: projections take W2 as [out, in] rows.
    lin8 = lambda x, w, b: int8_linear_stored(x, *w, b)  # noqa: E731
    conv8 = lambda x, w, b: int8_conv_stored(x, w[0], w[1], b, padding=1)  # noqa: E731
    ys = outputs(inp, {**stored_q, **bias}, lin8, conv8)
    f32_lin = lambda x, w, b: F.linear(x.double(), w.double(), b.double() if b is not None else None).float()  # noqa
    f32_conv = lambda x, w, b: F.conv2d(x.double(), w.double(), b.double(), padding=1).float()  # noqa: E731
    f32_w = {**values, "W2": values["W2"].T, **bias}
    yf = outputs(inp, f32_w, f32_lin, f32_conv)
    rows = values["W1"][inp["ids"]]
    for name in ys:
        io[f"{name}.int8"], io[f"{name}.f32_from_int8"] = ys[name], yf[name]
    io["rows.int8"] = io["rows.f32_from_int8"] = rows
    # Without AVX-512 VNNI a convolution's weight takes 7 bits, made from the values the stored one stands for.
    io["conv.int8_7bit"] = int8_conv(inp["img"], values["Wc"], bias["bc"], padding=1, levels=63.0)

    tensors = {"b1": bias["b1"], "bc": bias["bc"], "bih": bias["bih"], "bhh": bias["bhh"]}
    listed = {}
    for name in axis:
        qv = stored_q[name][0] if name != "W2" else q2.T.contiguous()
        tensors[name] = qv.to(torch.int8)
        tensors[f"{name}:scales"] = stored_q[name][1]
        listed[name] = {"axis": axis[name], "scales": f"{name}:scales"}
    meta = {"heed.graph": json.dumps(graph()), "heed.quantized": json.dumps({"precision": "int8", "weights": listed}),
            "generator": "tests/reference/gen_quantized_fixtures.py"}
    save_file(tensors, os.path.join(OUT, "int8.safetensors"), metadata=meta)

    # bf16: values any bf16 numbers.
    wb = {name: r(*v.shape).mul(0.2).bfloat16() for name, v in values.items()}
    wf = {name: v.float() for name, v in wb.items()}
    yb = outputs(inp, {**wf, "W2": wf["W2"].T, **bias}, bf16_linear, lambda x, w, b: bf16_conv(x, w, b, padding=1))
    yf = outputs(inp, {**wf, "W2": wf["W2"].T, **bias}, f32_lin, f32_conv)
    for name in yb:
        io[f"{name}.bf16"], io[f"{name}.f32_from_bf16"] = yb[name], yf[name]
    io["rows.bf16"] = io["rows.f32_from_bf16"] = wf["W1"][inp["ids"]]
    btensors = {**{k: v for k, v in tensors.items() if k in bias}, **wb}
    meta = {"heed.graph": json.dumps(graph()),
            "heed.quantized": json.dumps({"precision": "bf16", "weights": {n: {} for n in wb}}),
            "generator": "tests/reference/gen_quantized_fixtures.py"}
    save_file(btensors, os.path.join(OUT, "bf16.safetensors"), metadata=meta)

    # The scheme: storing these f32 weights must give these values.
    w0 = r(5, 33)
    w0[2] = 0.0
    w0[4] = 0.0
    w0[4, :3] = torch.tensor([127.0, 0.5, -1.5])  # scale 1: ties 0.5 -> 0, -1.5 -> -2
    q0, s0 = quantize_rows(w0)
    io["scheme.w0"], io["scheme.q0"], io["scheme.s0"] = w0, q0, s0.reshape(-1)
    w1 = r(33, 6)
    q1, s1 = quantize_rows(w1.T.contiguous())
    io["scheme.w1"], io["scheme.q1"], io["scheme.s1"] = w1, q1.T.contiguous(), s1.reshape(-1)
    io["scheme.bf16"] = w1.bfloat16()
    save_file({k: v.contiguous().clone() for k, v in io.items()}, os.path.join(OUT, "io.safetensors"),
              metadata={"generator": "tests/reference/gen_quantized_fixtures.py", "torch": torch.__version__})
    print(f"{OUT}: int8.safetensors, bf16.safetensors, io.safetensors ({len(io)} tensors)")


if __name__ == "__main__":
    main()

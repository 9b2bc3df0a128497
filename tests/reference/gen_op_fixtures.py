#!/usr/bin/env python3
"""Writes tests/fixtures/ops.safetensors: per op case, its inputs and the outputs
PyTorch computes for them. The C++ op tests run each case through heed and compare.

Run: python3 tests/reference/gen_op_fixtures.py   (needs torch, safetensors)
Cases are listed in __metadata__["cases"]: op, attrs, which inputs are parameters
(weights, so kernels that prepack them are exercised), tolerances.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(20261125)
tensors, cases = {}, []


def case(name, op, inputs, outputs, attrs=None, params=(), rtol=1e-5, atol=1e-6):
    """inputs: list of tensors or None (optional input left out)."""
    for i, t in enumerate(inputs):
        if t is not None:
            tensors[f"{name}.in{i}"] = t.contiguous().clone()
    for j, t in enumerate(outputs):
        tensors[f"{name}.out{j}"] = t.contiguous().clone()
    cases.append(dict(name=name, op=op, attrs=attrs or {},
                      inputs=[None if t is None else f"{name}.in{i}" for i, t in enumerate(inputs)],
                      params=[i in params for i in range(len(inputs))],
                      outputs=[f"{name}.out{j}" for j in range(len(outputs))],
                      rtol=rtol, atol=atol))


def r(*shape):
    return torch.randn(*shape, dtype=torch.float32)


# Linear: PyTorch layout, prepacked (weight as parameter) and plain (weight as input).
acts = {"none": lambda y: y, "relu": F.relu, "gelu": F.gelu,
        "gelu_tanh": lambda y: F.gelu(y, approximate="tanh"), "silu": F.silu,
        "tanh": torch.tanh, "sigmoid": torch.sigmoid}
for act, fn in acts.items():
    x, w, b = r(3, 5, 37), r(19, 37), r(19)
    case(f"linear_{act}", "Linear", [x, w, b], [fn(F.linear(x, w, b))], {"activation": act}, params=(1, 2))
x, w = r(1, 512), r(384, 512) * 0.05
case("linear_m1_512x384_nobias", "Linear", [x, w, None], [F.linear(x, w)], params=(1,), atol=1e-5)
x, w, b = r(64, 256), r(100, 256) * 0.05, r(100)
case("linear_m64_plain_weight", "Linear", [x, w, b], [F.linear(x, w, b)], atol=1e-5)
x, w, b = r(7), r(3, 7), r(3)
case("linear_1d_input", "Linear", [x, w, b], [F.linear(x, w, b)], params=(1, 2))

# MatMul: batched, broadcast batch dims, transposes, odd sizes.
a, b = r(2, 3, 17, 9), r(2, 3, 9, 5)
case("matmul_batched", "MatMul", [a, b], [a @ b])
a, b = r(4, 1, 6, 8), r(3, 8, 7)
case("matmul_broadcast", "MatMul", [a, b], [a @ b])
a, b = r(5, 11), r(2, 11, 3)
case("matmul_broadcast_a2d", "MatMul", [a, b], [a @ b])
a, b = r(2, 9, 6), r(2, 13, 9)
case("matmul_transpose_a_b", "MatMul", [a, b], [a.transpose(-1, -2) @ b.transpose(-1, -2)],
     {"transpose_a": True, "transpose_b": True})
a, b = r(3, 4, 16), r(3, 10, 16)
case("matmul_transpose_b", "MatMul", [a, b], [a @ b.transpose(-1, -2)], {"transpose_b": True})
a, b = r(2, 33, 16), r(16, 1024)  # heed copies b into padded rows here (4 KiB row stride, M >= 32)
case("matmul_padded_rows", "MatMul", [a, b], [a @ b], atol=1e-5)

# Softmax / LogSoftmax: axes, masks (broadcast, -inf, fully masked rows -> 0 / -inf).
x = r(2, 3, 5, 7) * 3
for axis in (-1, 1, 0):
    case(f"softmax_axis{axis}", "Softmax", [x], [torch.softmax(x, axis)], {"axis": axis})
    case(f"logsoftmax_axis{axis}", "LogSoftmax", [x], [torch.log_softmax(x, axis)], {"axis": axis})
x = r(2, 4, 6, 6)
mask = torch.zeros(2, 1, 1, 6)
mask[0, :, :, 4:] = float("-inf")
mask[1, :, :, :] = float("-inf")  # every row of batch 1 is fully masked
soft = torch.softmax(x + mask, -1)
soft[1] = 0.0  # heed's documented rule for fully masked rows
logsoft = torch.log_softmax(x + mask, -1)
logsoft[1] = float("-inf")
case("softmax_key_padding_mask", "Softmax", [x, mask], [soft])
case("logsoftmax_key_padding_mask", "LogSoftmax", [x, mask], [logsoft])
causal = torch.triu(torch.full((5, 5), float("-inf")), 1)
x = r(3, 5, 5)
case("softmax_causal_mask", "Softmax", [x, causal], [torch.softmax(x + causal, -1)])
x = r(4, 33) * 40  # very large logits stay finite
case("softmax_large_logits", "Softmax", [x], [torch.softmax(x, -1)])

# LayerNorm over the last dim and the last two dims, with and without affine params.
x, g, b = r(3, 7, 33) * 2 + 1, r(33), r(33)
case("layernorm_affine", "LayerNorm", [x, g, b], [F.layer_norm(x, (33,), g, b, 1e-5)], params=(1, 2))
case("layernorm_plain", "LayerNorm", [x], [F.layer_norm(x, (33,), eps=1e-6)], {"epsilon": 1e-6})
g2 = r(7, 33)
case("layernorm_two_dims", "LayerNorm", [x, g2, None], [F.layer_norm(x, (7, 33), g2, None)], {"axis": -2},
     params=(1,))

# Gather / Embedding.
table = r(50, 16)
ids = torch.tensor([[3, 0, 49], [7, 7, 1]], dtype=torch.int64)
case("embedding_i64", "Embedding", [ids, table], [F.embedding(ids, table)], params=(1,))
ids32 = torch.tensor([5, 4, 3, 2], dtype=torch.int32)
case("embedding_i32", "Embedding", [ids32, table], [F.embedding(ids32.long(), table)], params=(1,))
data = r(4, 6, 5)
idx = torch.tensor([[4, 0], [2, 2]], dtype=torch.int64)
case("gather_axis1", "Gather", [data, idx], [data[:, idx, :]], {"axis": 1})
case("gather_axis_last", "Gather", [data, idx], [data[..., idx]], {"axis": -1})

# Element-wise, with broadcasting in both operands and odd sizes.
bin_ops = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div,
           "Maximum": torch.maximum, "Minimum": torch.minimum}
for op, fn in bin_ops.items():
    a, b = r(2, 3, 17), r(17)
    if op == "Div":
        b = b.abs() + 0.5
    case(f"{op.lower()}_trailing_broadcast", op, [a, b], [fn(a, b)])
    a, b = r(3, 1, 5), r(1, 4, 1)
    if op == "Div":
        b = b.abs() + 0.5
    case(f"{op.lower()}_both_broadcast", op, [a, b], [fn(a, b)])
a, b = r(6, 7), r(6, 7)
case("add_same_shape", "Add", [a, b], [a + b])
a = r(2, 5)
s = torch.tensor(0.5)
case("mul_scalar", "Mul", [a, s], [a * s])
a, b = r(4, 9).abs() + 0.1, r(9)
case("pow_broadcast", "Pow", [a, b], [torch.pow(a, b)], rtol=1e-5, atol=1e-5)
ia, ib = torch.randint(-100, 100, (3, 4)), torch.randint(-100, 100, (4,))
case("add_i64", "Add", [ia, ib], [ia + ib])
case("mul_i32", "Mul", [ia.int(), ib.int()], [(ia * ib).int()])
un_ops = {"Sqrt": (torch.sqrt, True), "Exp": (torch.exp, False), "Log": (torch.log, True),
          "Tanh": (torch.tanh, False), "Sigmoid": (torch.sigmoid, False), "Relu": (F.relu, False),
          "Gelu": (F.gelu, False), "Silu": (F.silu, False), "Neg": (torch.neg, False)}
for op, (fn, positive) in un_ops.items():
    x = r(3, 7, 11) * 3
    if positive:
        x = x.abs() + 1e-3
    case(op.lower(), op, [x], [fn(x)], rtol=1e-5, atol=1e-5 if op == "Exp" else 1e-6)
x = r(5, 13) * 3
case("gelu_tanh_unary", "Gelu", [x], [F.gelu(x, approximate="tanh")], {"approximate": "tanh"})

# Shape ops.
x = r(2, 3, 4, 5)
case("reshape_infer", "Reshape", [x], [x.reshape(6, -1)], {"shape": [6, -1]})
case("reshape_keep_dim", "Reshape", [x], [x.reshape(2, 3, 20)], {"shape": [0, 0, -1]})
y = r(3, 1, 4, 1)
case("squeeze_all", "Squeeze", [y], [y.squeeze()])
case("squeeze_axis", "Squeeze", [y], [y.squeeze(1)], {"axes": [1]})
case("unsqueeze", "Unsqueeze", [x], [x.unsqueeze(0).unsqueeze(-1)], {"axes": [0, -1]})
case("transpose_0213", "Transpose", [x], [x.permute(0, 2, 1, 3)], {"perm": [0, 2, 1, 3]})
case("transpose_last_two", "Transpose", [x], [x.transpose(-1, -2)], {"perm": [0, 1, 3, 2]})
case("transpose_default", "Transpose", [x], [x.permute(3, 2, 1, 0)])
ii = torch.randint(0, 9, (3, 5))
case("transpose_i64", "Transpose", [ii], [ii.t()], {"perm": [1, 0]})
a, b, c = r(2, 3, 4), r(2, 5, 4), r(2, 1, 4)
case("concat_axis1", "Concat", [a, b, c], [torch.cat([a, b, c], 1)], {"axis": 1})
case("concat_last", "Concat", [a, a], [torch.cat([a, a], -1)], {"axis": -1})
x = r(2, 9, 4)
case("split_sizes", "Split", [x], list(torch.split(x, [2, 3, 4], 1)), {"axis": 1, "sizes": [2, 3, 4]})
case("split_equal", "Split", [x], list(torch.chunk(x, 2, -1)), {"axis": -1})
x = r(5, 8, 6)
case("slice_basic", "Slice", [x], [x[1:4, :, 2:]], {"starts": [1, 2], "ends": [4, 100], "axes": [0, 2]})
case("slice_negative_step", "Slice", [x], [x[:, -5:-1:2]], {"starts": [-5], "ends": [-1], "axes": [1], "steps": [2]})

# Cast.
x = r(4, 5) * 10
case("cast_f32_i64", "Cast", [x], [x.to(torch.int64)], {"to": "i64"})
case("cast_f32_f16", "Cast", [x], [x.to(torch.float16)], {"to": "f16"})
case("cast_f32_bf16", "Cast", [x], [x.to(torch.bfloat16)], {"to": "bf16"})
case("cast_f16_f32", "Cast", [x.half()], [x.half().float()], {"to": "f32"})
case("cast_i64_f32", "Cast", [ii], [ii.float()], {"to": "f32"})
case("cast_f32_bool", "Cast", [x.round()], [x.round() != 0], {"to": "bool"})

# Reductions.
x = r(3, 4, 5)
for op, fn in {"ReduceSum": torch.sum, "ReduceMean": torch.mean, "ReduceMax": torch.amax}.items():
    case(f"{op.lower()}_axis1", op, [x], [fn(x, dim=1)], {"axes": [1]})
    case(f"{op.lower()}_keepdims", op, [x], [fn(x, dim=(0, 2), keepdim=True)], {"axes": [0, 2], "keepdims": True})
    case(f"{op.lower()}_all", op, [x], [fn(x)])

# ArgMax / TopK.
x = r(4, 7, 9)
case("argmax_last", "ArgMax", [x], [x.argmax(-1)])
case("argmax_axis1_keep", "ArgMax", [x], [x.argmax(1, keepdim=True)], {"axis": 1, "keepdims": True})
v, i = torch.topk(x, 3, dim=-1)
case("topk_largest", "TopK", [x], [v, i], {"k": 3})
v, i = torch.topk(x, 2, dim=1, largest=False)
case("topk_smallest_axis1", "TopK", [x], [v, i], {"k": 2, "axis": 1, "largest": False})

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures", "ops.safetensors")
save_file(tensors, out, metadata={"cases": json.dumps(cases), "generator": "tests/reference/gen_op_fixtures.py",
                                  "torch": torch.__version__})
print(f"{out}: {len(cases)} cases, {len(tensors)} tensors")

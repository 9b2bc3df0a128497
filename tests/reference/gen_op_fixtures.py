#!/usr/bin/env python3
"""Writes tests/fixtures/ops.safetensors: per op case, its inputs and the outputs
PyTorch computes for them. The C++ op tests run each case through heed and compare.
Tensors marked for it go to ops_2.safetensors beside it (each file stays under
the repository's 5 MB a file); the tests read the two as one.

Run: python3 tests/reference/gen_op_fixtures.py [OUT] [--fresh]   (needs torch, safetensors)
Values already in OUT (and its second file) are kept (new cases go at the end,
so old inputs do not change); --fresh writes everything from this run.
Cases are listed in __metadata__["cases"]: op, attrs, which inputs are parameters
(weights, so kernels that prepack them are exercised), tolerances. Large inputs
are not stored: __metadata__["seeded"] lists them (tests/reference/seeded.py),
and the C++ tests generate the same values (tests/seeded_weights.cc). A tensor
given to several cases is stored once.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeded import uniform  # noqa: E402
from lowp_schemes import bf16_conv, bf16_linear, int8_conv, int8_linear, lstm_cell_gates, quantize_rows  # noqa: E402,F401

torch.manual_seed(20261125)
tensors, cases, seeded_inputs = {}, [], []
stored = {}   # id(tensor) -> the name it is stored under (tensors passed to several cases)
seeded = {}   # id(tensor) -> (seed, shape, low, high) for tensors the tests generate
alive = []    # keeps those tensors alive, so that their ids stay theirs


def seeded_uniform(seed, shape, low, high):
    t = uniform(seed, shape, low, high)
    seeded[id(t)] = (seed, shape, low, high)
    alive.append(t)
    return t


def input_name(name, i, t):
    if t is None:
        return None
    earlier = stored.get(id(t))
    if earlier and not earlier.startswith(name + "."):
        return earlier
    key = f"{name}.in{i}"
    stored[id(t)] = key
    alive.append(t)
    if id(t) in seeded:
        seed, shape, low, high = seeded[id(t)]
        seeded_inputs.append(dict(name=key, seed=seed, shape=shape, low=low, high=high))
    else:
        store(key, t)
    return key


second_file = set()  # names of the tensors that go to the second file
to_second_file = False  # from here on, new cases' tensors go there (the first file is full)


def store(key, t):
    tensors[key] = t.contiguous().clone()
    if to_second_file:
        second_file.add(key)


def case(name, op, inputs, outputs, attrs=None, params=(), rtol=1e-5, atol=1e-6, precision=None, outputs_7bit=None):
    """inputs: list of tensors or None (optional input left out); precision: the
    case runs with LoadOptions::precision (bf16, int8), and only so; outputs_7bit:
    an int8 convolution's outputs where its weights take 7 bits (no AVX-512 VNNI),
    stored in the second file."""
    names = [input_name(name, i, t) for i, t in enumerate(inputs)]
    for j, t in enumerate(outputs):
        store(f"{name}.out{j}", t)
    extra = {"precision": precision} if precision else {}
    if outputs_7bit:
        extra["outputs_7bit"] = [f"{name}.out{j}.7bit" for j in range(len(outputs_7bit))]
        for key, t in zip(extra["outputs_7bit"], outputs_7bit):
            tensors[key] = t.contiguous().clone()
            second_file.add(key)
    cases.append(dict(name=name, op=op, attrs=attrs or {},
                      inputs=names,
                      params=[i in params for i in range(len(inputs))],
                      outputs=[f"{name}.out{j}" for j in range(len(outputs))],
                      rtol=rtol, atol=atol, **extra))


def r(*shape):
    return torch.randn(*shape, dtype=torch.float32)


# Linear: PyTorch layout, prepacked (weight as parameter) and plain (weight as input).
acts = {"none": lambda y: y, "relu": F.relu, "gelu": F.gelu,
        "gelu_tanh": lambda y: F.gelu(y, approximate="tanh"), "silu": F.silu,
        "tanh": torch.tanh, "sigmoid": torch.sigmoid}
for act, fn in acts.items():
    x, w, b = r(3, 5, 37), r(19, 37), r(19)
    case(f"linear_{act}", "Linear", [x, w, b], [fn(F.linear(x, w, b))], {"activation": act}, params=(1, 2))
x, w = r(1, 512), seeded_uniform("linear_m1_512x384.weight", [384, 512], -0.087, 0.087)
case("linear_m1_512x384_nobias", "Linear", [x, w, None], [F.linear(x, w)], params=(1,), atol=1e-5)
x, w, b = r(64, 256), r(100, 256) * 0.05, r(100)
case("linear_m64_plain_weight", "Linear", [x, w, b], [F.linear(x, w, b)], atol=1e-5)
# A wide constant weight (n >= 4096) takes heed's panel kernel for up to 128
# rows: 6-row blocks plus a partial one (1, 3, 4, 5, 13 rows), k = 136 walks two
# 128-deep slices, n = 4100 leaves a partial last panel.
w, b = seeded_uniform("linear_wide.weight", [4100, 136], -0.17, 0.17), r(4100)
for m in (1, 3, 4, 5, 13):
    x = r(m, 136)
    case(f"linear_wide_m{m}", "Linear", [x, w, b if m != 3 else None], [F.linear(x, w, b if m != 3 else None)],
         params=(1, 2), atol=1e-5)
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
# Merged dims (a channel norm's [B, C, H, W] / [B, 1, H, W]), a broadcasting
# first operand, and one long row that the loop splits between threads.
a, b = r(2, 40, 7, 9), r(2, 1, 7, 9).abs() + 0.5
case("div_middle_broadcast", "Div", [a, b], [a / b])
case("sub_first_broadcasts", "Sub", [b, a], [b - a])
a, b = seeded_uniform("long_row.a", [1, 33001], -2, 2), seeded_uniform("long_row.b", [1, 33001], -2, 2)
case("mul_long_row", "Mul", [a, b], [a * b])
case("maximum_long_row_scalar", "Maximum", [a, torch.tensor(0.1)], [torch.maximum(a, torch.tensor(0.1))])
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
# heed's own loops: a middle axis over rows wider than one 512-column chunk, a run
# of two axes, the last axis, and a run with a size-1 dim inside.
x2, x3, x4 = r(2, 6, 700), r(3, 4, 5, 6), r(3, 1, 4, 5)
for op, fn in {"ReduceSum": torch.sum, "ReduceMean": torch.mean, "ReduceMax": torch.amax}.items():
    case(f"{op.lower()}_wide_rows", op, [x2], [fn(x2, dim=1, keepdim=True)], {"axes": [1], "keepdims": True})
    case(f"{op.lower()}_two_axes", op, [x3], [fn(x3, dim=(1, 2))], {"axes": [1, 2]})
    case(f"{op.lower()}_last", op, [x3], [fn(x3, dim=-1)], {"axes": [-1]})
    case(f"{op.lower()}_around_one", op, [x4], [fn(x4, dim=(1, 2))], {"axes": [1, 2]})

# ArgMax / TopK.
x = r(4, 7, 9)
case("argmax_last", "ArgMax", [x], [x.argmax(-1)])
case("argmax_axis1_keep", "ArgMax", [x], [x.argmax(1, keepdim=True)], {"axis": 1, "keepdims": True})
v, i = torch.topk(x, 3, dim=-1)
case("topk_largest", "TopK", [x], [v, i], {"k": 3})
v, i = torch.topk(x, 2, dim=1, largest=False)
case("topk_smallest_axis1", "TopK", [x], [v, i], {"k": 2, "axis": 1, "largest": False})


# ---------------------------------------------------------------------------
# Attention. MultiHeadAttention against torch.nn.MultiheadAttention; Global and
# Local attention against the hand-written PyTorch references below.
def mha_inputs(query, key=None, value=None, qw=None, kw=None, vw=None, qb=None, kb=None, vb=None, ow=None, ob=None,
               kpm=None, am=None):
    return [query, key, value, qw, kw, vw, qb, kb, vb, ow, ob, kpm, am]


def mha_case(name, mha, query, key=None, value=None, kpm=None, am=None, weights=True, separate=False,
             causal=False, fix_rows=(), mask4=None, reference=None, **kw):
    """mask4: heed's input 16, a mask broadcast to [B, H, T, S]; PyTorch takes it expanded to [B * H, T, S]."""
    E = mha.embed_dim
    sd = {k_: v_.detach() for k_, v_ in mha.state_dict().items()}
    kk = query if key is None else key
    vv = query if value is None else value
    mask = am
    if causal:
        T = query.shape[1]
        mask = torch.triu(torch.full((T, T), float("-inf")), 1)
    if mask4 is not None:
        full = mask4.expand(query.shape[0], mha.num_heads, query.shape[1], kk.shape[1])
        mask = full.reshape(-1, query.shape[1], kk.shape[1])
    with torch.no_grad():
        out, w = mha(query, kk, vv, key_padding_mask=kpm, attn_mask=mask, need_weights=True,
                     average_attn_weights=False)
    for b in fix_rows:  # rows whose every key is hidden: heed gives zero context (PyTorch: NaN)
        out[b] = sd["out_proj.bias"]
        w[b] = 0.0
    W, B = sd["in_proj_weight"], sd["in_proj_bias"]
    if separate:
        ins = mha_inputs(query, key, value, W[:E], W[E:2 * E], W[2 * E:], B[:E], B[E:2 * E], B[2 * E:],
                         sd["out_proj.weight"], sd["out_proj.bias"], kpm, am)
        params = (3, 4, 5, 6, 7, 8, 9, 10)
    else:
        ins = mha_inputs(query, key, value, W, None, None, B, None, None, sd["out_proj.weight"], sd["out_proj.bias"],
                         kpm, am)
        params = (3, 6, 9, 10)
    if mask4 is not None:
        ins += [None, None, None, mask4]
    attrs = {"num_heads": mha.num_heads, "causal": causal}
    if reference is not None:  # another arithmetic's output (LoadOptions::precision)
        out = reference
    case(name, "MultiHeadAttention", ins, [out, w] if weights else [out], attrs, params=params, **kw)


torch.manual_seed(11)
mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
x = r(2, 6, 16)
kpm = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
mha_case("mha_self_padding", mha, x, kpm=kpm, atol=1e-5)
mha_case("mha_self_padding_no_weights", mha, x, kpm=kpm, weights=False, atol=1e-5)
mha_case("mha_self_causal_attr", mha, x, causal=True, atol=1e-5)
mha_case("mha_self_attn_mask_input", mha, x, am=torch.triu(torch.full((6, 6), float("-inf")), 1), atol=1e-5)
mha_case("mha_float_key_padding", mha, x, kpm=torch.zeros(2, 6).masked_fill(kpm, float("-inf")), atol=1e-5)
mem = r(2, 9, 16)
mha_case("mha_cross_separate_weights", mha, r(2, 5, 16), mem, mem, separate=True, atol=1e-5)
mha_case("mha_cross_no_weights", mha, r(2, 5, 16), mem, mem, weights=False, atol=1e-5)
all_pad = torch.tensor([[False] * 6, [True] * 6])
mha_case("mha_fully_masked_batch", mha, x, kpm=all_pad, fix_rows=(1,), atol=1e-5)
mha_case("mha_large_logits", mha, x * 30, kpm=kpm, rtol=1e-4, atol=1e-4)
mha_case("mha_length_one", mha, r(3, 1, 16), atol=1e-5)
mha_odd = torch.nn.MultiheadAttention(30, 3, batch_first=True)  # head_dim 10
mha_case("mha_head_dim_10", mha_odd, r(2, 7, 30), kpm=torch.tensor([[False] * 7, [False] * 5 + [True] * 2]), atol=1e-5)
mha_long = torch.nn.MultiheadAttention(32, 4, batch_first=True)
xl = r(2, 300, 32)  # 2 key blocks of 256, query blocks of 64 with a remainder
kpl = torch.zeros(2, 300, dtype=torch.bool)
kpl[1, 250:] = True
mha_case("mha_long_blocked", mha_long, xl, kpm=kpl, weights=False, atol=2e-5)
mha_case("mha_long_blocked_causal", mha_long, xl, causal=True, weights=False, atol=2e-5)


# Cross-attention with keys and values projected once, outside the node.
def projected_kv(mha, mem):
    """mem's keys and values through mha's in_proj, as [B, heads, S, head_dim] (kv_projected's inputs)."""
    W, B = mha.in_proj_weight.detach(), mha.in_proj_bias.detach()
    E, H = mha.embed_dim, mha.num_heads
    heads = lambda t: t.reshape(mem.shape[0], mem.shape[1], H, E // H).transpose(1, 2).contiguous()
    return heads(mem @ W[E:2 * E].T + B[E:2 * E]), heads(mem @ W[2 * E:].T + B[2 * E:])


with torch.no_grad():
    sd = mha.state_dict()
    W, B = sd["in_proj_weight"], sd["in_proj_bias"]
    q_in = r(2, 3, 16)
    kproj, vproj = projected_kv(mha, mem)
    out, w = mha(q_in, mem, mem, need_weights=True, average_attn_weights=False)
case("mha_kv_projected", "MultiHeadAttention",
     mha_inputs(q_in, kproj, vproj, W[:16], None, None, B[:16], None, None, sd["out_proj.weight"], sd["out_proj.bias"]),
     [out, w], {"num_heads": 4, "kv_projected": True}, params=(3, 6, 9, 10), atol=1e-5)

# KV cache: tests/attention_test.cc steps a causal MHA token by token through a
# cache and compares each step with this full causal pass.
with torch.no_grad():
    seq = r(2, 7, 16)
    full, _ = mha(seq, seq, seq, attn_mask=torch.triu(torch.full((7, 7), float("-inf")), 1))
    sd = mha.state_dict()
    for k_, v_ in {"x": seq, "full": full, "in_proj_weight": sd["in_proj_weight"], "in_proj_bias": sd["in_proj_bias"],
                   "out_proj.weight": sd["out_proj.weight"], "out_proj.bias": sd["out_proj.bias"]}.items():
        tensors[f"kvcache.{k_}"] = v_.contiguous().clone()


def global_ref(q, k, v, mask, score, W=None, b=None, vv=None):
    Dq = q.shape[-1]
    if score in ("dot", "scaled_dot"):
        s = q @ k.transpose(1, 2)
        if score == "scaled_dot":
            s = s / math.sqrt(k.shape[-1])
    elif score == "general":
        s = (q @ W.T) @ k.transpose(1, 2)
    else:
        qa = q @ W[:, :Dq].T + (0 if b is None else b)
        ka = k @ W[:, Dq:].T
        s = torch.tanh(qa[:, :, None, :] + ka[:, None, :, :]) @ vv
    if mask is not None:
        s = s + mask[:, None, :]
    p = torch.nan_to_num(torch.softmax(s, -1), nan=0.0)
    return p @ v, p


def global_case(name, q, k, v, mask, score, W=None, b=None, vv=None, bool_mask=None, **kw):
    ctx, p = global_ref(q, k, v, mask, score, W, b, vv)
    m_in = bool_mask if bool_mask is not None else mask
    ins = [q, k, v, m_in, W, b, vv]
    while ins and ins[-1] is None:
        ins.pop()
    case(name, "GlobalAttention", ins, [ctx, p], {"score": score}, **kw)


q, k, v = r(2, 4, 8), r(2, 6, 8), r(2, 6, 5)
pad = torch.zeros(2, 6)
pad[1, 4:] = float("-inf")
for score in ("dot", "scaled_dot"):
    global_case(f"global_{score}", q, k, v, pad, score)
global_case("global_bool_mask", q, k, v, pad, "dot", bool_mask=torch.isinf(pad))
global_case("global_general", r(2, 4, 7), k, v, pad, "general", W=r(8, 7))
Wc, bc, vc = r(10, 7 + 8), r(10), r(10)
global_case("global_additive", r(2, 4, 7), k, v, pad, "additive", W=Wc, b=bc, vv=vc, atol=1e-5)
global_case("global_concat_no_bias", r(2, 4, 7), k, v, None, "concat", W=Wc, vv=vc, atol=1e-5)
full_pad = pad.clone()
full_pad[0, :] = float("-inf")
global_case("global_fully_masked_row", q, k, v, full_pad, "dot")
global_case("global_length_one", r(1, 1, 8), r(1, 1, 8), r(1, 1, 3), None, "dot")
global_case("global_large_logits", q * 100, k, v, pad, "dot", rtol=1e-4, atol=1e-4)
global_case("global_tiny_logits", q * 1e-6, k, v, pad, "dot")
ql, kl, vl = r(1, 70, 8), r(1, 300, 8), r(1, 300, 4)
ctx, _ = global_ref(ql, kl, vl, None, "scaled_dot")
case("global_blocked_no_weights", "GlobalAttention", [ql, kl, vl], [ctx], {"score": "scaled_dot"}, atol=1e-5)


def local_ref(q, k, v, left, right, center="monotonic", score="dot", lengths=None, Wa=None, Wp=None, vp=None,
              sigma=-1.0, source=False, rule="floor"):
    B, T, _ = q.shape
    S, Dv = k.shape[1], v.shape[2]
    W = left + right + 1
    sig = sigma if sigma > 0 else (left + right) / 4.0
    ctx, wts, src_wts = torch.zeros(B, T, Dv), torch.zeros(B, T, W), torch.zeros(B, T, S)
    for b in range(B):
        n = S if lengths is None else min(S, int(lengths[b]))
        for t in range(T):
            p = float(t)
            if center == "predictive":
                z = (vp.double() @ torch.tanh(Wp.double() @ q[b, t].double())).item()
                p = n / (1.0 + math.exp(-z))
            if rule == "distance":  # the keys within the distance: p - left <= s <= p + right
                first, last = math.ceil(p - left), math.floor(p + right)
            else:
                first, last = math.floor(p) - left, math.floor(p) + right
            lo, hi = max(first, 0), min(last + 1, n)
            if hi <= lo:
                continue
            qq = q[b, t] @ Wa.T if score == "general" else q[b, t]
            s = k[b, lo:hi] @ qq
            if score == "scaled_dot":
                s = s / math.sqrt(k.shape[2])
            a = torch.softmax(s, 0)
            if center == "predictive":
                pos = torch.arange(lo, hi, dtype=torch.float64)
                a = (a.double() * torch.exp(-(pos - p) ** 2 / (2 * sig * sig))).float()
            wts[b, t, lo - first:hi - first] = a
            src_wts[b, t, lo:hi] = a
            ctx[b, t] = a @ v[b, lo:hi]
    return ctx, (src_wts if source else wts)


def local_case(name, q, k, v, left, right, center="monotonic", score="dot", lengths=None, Wa=None, Wp=None, vp=None,
               sigma=-1.0, source=False, rule=None, **kw):
    ctx, w = local_ref(q, k, v, left, right, center, score, lengths, Wa, Wp, vp, sigma, source, rule or "floor")
    ins = [q, k, v, lengths, Wa, Wp, vp]
    while ins and ins[-1] is None:
        ins.pop()
    attrs = {"center": center, "left": left, "right": right, "score": score, "sigma": sigma}
    if source:
        attrs["weights"] = "source"
    if rule:
        attrs["window_rule"] = rule
    case(name, "LocalAttention", ins, [ctx, w], attrs, **kw)


q, k, v = r(2, 9, 6), r(2, 9, 6), r(2, 9, 4)
local_case("local_m_symmetric", q, k, v, 2, 2)
local_case("local_m_asymmetric", q, k, v, 3, 0)
local_case("local_m_scaled", q, k, v, 1, 2, score="scaled_dot")
local_case("local_m_window_larger_than_sequence", q, k, v, 50, 50)
local_case("local_m_general", r(2, 9, 5), k, v, 2, 1, score="general", Wa=r(6, 5))
lens = torch.tensor([9, 6], dtype=torch.int64)
Wp, vp = r(7, 6), r(7)
local_case("local_p", q, k, v, 2, 2, center="predictive", lengths=lens, Wp=Wp, vp=vp, atol=1e-5)
local_case("local_p_no_lengths_sigma", q, k, v, 3, 1, center="predictive", lengths=None, Wp=Wp, vp=vp, sigma=1.5,
           atol=1e-5)
local_case("local_p_general_source_weights", r(2, 9, 5), k, v, 2, 2, center="predictive", score="general",
           lengths=lens, Wa=r(6, 5), Wp=r(7, 5), vp=vp, source=True, atol=1e-5)
local_case("local_m_length_one", r(1, 1, 6), r(1, 1, 6), r(1, 1, 4), 2, 2)


# ---------------------------------------------------------------------------
# Recurrent ops against torch.nn.LSTM / GRU / LSTMCell / GRUCell, random weights
# (constant weights could not catch a wrong gate order).
def rnn_case(name, module, x, h0=None, c0=None, lengths=None, outs=None, **kw):
    """`outs`: the outputs when given (a scheme computed here), else `module`'s."""
    lstm = isinstance(module, torch.nn.LSTM)
    dirs = 2 if module.bidirectional else 1
    with torch.no_grad():
        state = None if h0 is None else ((h0, c0) if lstm else h0)
        if lengths is not None:
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=module.batch_first,
                                                             enforce_sorted=False)
            y, st = module(packed, state)
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=module.batch_first,
                                                          total_length=x.shape[1 if module.batch_first else 0])
        else:
            y, st = module(x, state)
    outs = outs if outs is not None else [y] + (list(st) if lstm else [st])
    ins = [x, h0, c0 if lstm else None, lengths]
    params = []
    for layer in range(module.num_layers):
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            for nm in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                t = getattr(module, nm + sfx, None)
                if t is not None:
                    params.append(len(ins))
                ins.append(None if t is None else t.detach())
    attrs = {"hidden_size": module.hidden_size, "num_layers": module.num_layers,
             "bidirectional": module.bidirectional, "batch_first": module.batch_first}
    case(name, "LSTM" if lstm else "GRU", ins, outs, attrs, params=tuple(params), **kw)


torch.manual_seed(21)
lstm = torch.nn.LSTM(7, 5)
rnn_case("lstm_one_layer_initial_state", lstm, r(4, 3, 7), r(1, 3, 5), r(1, 3, 5), atol=1e-5)
lstm2 = torch.nn.LSTM(6, 4, num_layers=2, bidirectional=True)
rnn_case("lstm_two_layers_bidirectional", lstm2, r(5, 3, 6), atol=1e-5)
rnn_case("lstm_two_layers_bidirectional_state", lstm2, r(5, 3, 6), r(4, 3, 4), r(4, 3, 4), atol=1e-5)
rnn_case("lstm_padded_lengths", lstm2, r(5, 3, 6), lengths=torch.tensor([5, 2, 4]), atol=1e-5)
lstm_bf = torch.nn.LSTM(6, 8, bidirectional=True, batch_first=True)
rnn_case("lstm_batch_first", lstm_bf, r(2, 6, 6), atol=1e-5)
rnn_case("lstm_batch_first_lengths", lstm_bf, r(3, 6, 6), lengths=torch.tensor([1, 6, 3]), atol=1e-5)
rnn_case("lstm_no_bias", torch.nn.LSTM(3, 4, bias=False), r(3, 2, 3), atol=1e-5)
gru = torch.nn.GRU(7, 5)
rnn_case("gru_one_layer_initial_state", gru, r(4, 3, 7), r(1, 3, 5), atol=1e-5)
gru2 = torch.nn.GRU(6, 4, num_layers=2, bidirectional=True, batch_first=True)
rnn_case("gru_two_layers_bidirectional", gru2, r(3, 5, 6), atol=1e-5)
rnn_case("gru_padded_lengths", gru2, r(3, 5, 6), lengths=torch.tensor([3, 5, 1]), atol=1e-5)

cell = torch.nn.LSTMCell(6, 5)
x, h, c = r(3, 6), r(3, 5), r(3, 5)
with torch.no_grad():
    h1, c1 = cell(x, (h, c))
case("lstm_cell", "LSTMCell", [x, h, c, cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias_ih.detach(),
                               cell.bias_hh.detach()], [h1, c1], params=(3, 4, 5, 6), atol=1e-5)
gcell = torch.nn.GRUCell(6, 5)
with torch.no_grad():
    g1 = gcell(x, h)
case("gru_cell", "GRUCell", [x, h, gcell.weight_ih.detach(), gcell.weight_hh.detach(), gcell.bias_ih.detach(),
                             gcell.bias_hh.detach()], [g1], params=(2, 3, 4, 5), atol=1e-5)
gcell_nb = torch.nn.GRUCell(6, 5, bias=False)
with torch.no_grad():
    g2 = gcell_nb(x, h)
case("gru_cell_no_bias", "GRUCell", [x, h, gcell_nb.weight_ih.detach(), gcell_nb.weight_hh.detach()], [g2],
     params=(2, 3), atol=1e-5)


# ---------------------------------------------------------------------------
# The convolution family against torch.nn.functional.
torch.manual_seed(31)
x = r(2, 4, 9, 11)
w, b = r(6, 4, 3, 3) * 0.3, r(6)
case("conv_basic", "Conv2d", [x, w, b], [F.conv2d(x, w, b)], atol=1e-5)
case("conv_stride_pad", "Conv2d", [x, w, b], [F.conv2d(x, w, b, stride=2, padding=1)],
     {"stride": [2], "padding": [1]}, params=(1, 2), atol=1e-5)
case("conv_dilated_asymmetric", "Conv2d", [x, w, None], [F.conv2d(x, w, None, stride=(1, 2), padding=(2, 1), dilation=2)],
     {"stride": [1, 2], "padding": [2, 1], "dilation": [2]}, params=(1,), atol=1e-5)
wg = r(6, 2, 3, 3) * 0.3
case("conv_grouped", "Conv2d", [x, wg, b], [F.conv2d(x, wg, b, padding=1, groups=2)],
     {"padding": [1], "groups": 2}, params=(1, 2), atol=1e-5)
wd = r(4, 1, 3, 3) * 0.3
case("conv_depthwise", "Conv2d", [x, wd, None], [F.conv2d(x, wd, None, padding=1, groups=4)],
     {"padding": [1], "groups": 4}, params=(1,), atol=1e-5)
w1 = r(6, 4, 1, 1) * 0.3
res = r(2, 6, 9, 11)
case("conv_residual_relu", "Conv2d", [x, w1, b, res], [F.relu(F.conv2d(x, w1, b) + res)],
     {"activation": "relu"}, params=(1, 2), atol=1e-5)
xi, wi = r(1, 3, 23, 17), r(5, 3, 7, 7) * 0.1
case("conv_7x7_stride2_odd", "Conv2d", [xi, wi], [F.conv2d(xi, wi, stride=2, padding=3)],
     {"stride": [2], "padding": [3]}, params=(1,), atol=1e-5)
mean, var, gamma, beta = r(4), r(4).abs() + 0.5, r(4), r(4)
case("batch_norm", "BatchNorm2d", [x, gamma, beta, mean, var], [F.batch_norm(x, mean, var, gamma, beta, eps=1e-3)],
     {"epsilon": 1e-3}, params=(1, 2, 3, 4), atol=1e-5)
case("max_pool", "MaxPool2d", [x], [F.max_pool2d(x, 3, 2, 1)], {"kernel_size": [3], "stride": [2], "padding": [1]})
case("max_pool_ceil", "MaxPool2d", [x], [F.max_pool2d(x, 2, 2, ceil_mode=True)], {"kernel_size": [2], "ceil_mode": True})
case("avg_pool", "AvgPool2d", [x], [F.avg_pool2d(x, 3, 2, 1)], {"kernel_size": [3], "stride": [2], "padding": [1]})
case("avg_pool_exclude_pad", "AvgPool2d", [x], [F.avg_pool2d(x, (2, 3), 1, (1, 1), count_include_pad=False)],
     {"kernel_size": [2, 3], "stride": [1], "padding": [1, 1], "count_include_pad": False})
for oh, ow in ((1, 1), (14, 14), (4, 5), (3, 7)):
    case(f"adaptive_avg_pool_{oh}x{ow}", "AdaptiveAvgPool2d", [x], [F.adaptive_avg_pool2d(x, (oh, ow))],
         {"output_size": [oh, ow]})
case("flatten", "Flatten", [x], [torch.flatten(x, 1)])
case("flatten_middle", "Flatten", [x], [torch.flatten(x, 1, 2)], {"start_dim": 1, "end_dim": 2})

# ---------------------------------------------------------------------------
# Linear on heed's own GEMM kernels (backends/cpu/panel_gemm.h; on AVX-512 every
# constant Linear takes them): rows around the 12-row tile (11, 12, 13, 25),
# partial 32-column panels, an odd depth, a narrow weight at many rows (work split
# by row groups), rows in several L2-sized chunks (a deep k), and every fused
# activation over pre-activations spread across [-8, 8]. The activations are
# PyTorch's in float64, rounded: its float32 GELU loses up to ~5e-7 to the
# cancellation in 1 + erf(x) near x = -4, more than heed's (see activation_math.h).
torch.manual_seed(41)
w, b = r(45, 70) * 0.35, r(45)
x = r(13, 70)
for act, fn in acts.items():
    y = F.linear(x, w, b)
    case(f"linear_panels_{act}", "Linear", [x, w, b], [fn(y.double()).float()], {"activation": act}, params=(1, 2))
w, b = r(70, 33), r(70)
for m in (11, 12, 13, 25, 37):
    x = r(m, 33)
    case(f"linear_panels_m{m}_k33", "Linear", [x, w, b], [F.linear(x, w, b)], params=(1, 2), atol=1e-5)
w, b, x = r(19, 40), r(19), r(300, 40)
case("linear_panels_narrow_m300", "Linear", [x, w, b], [F.linear(x, w, b)], params=(1, 2), atol=1e-5)
x = seeded_uniform("linear_panels_deep.x", [30, 4096], -1.0, 1.0)
w = seeded_uniform("linear_panels_deep.weight", [40, 4096], -0.03, 0.03)
b = r(40)
case("linear_panels_deep_k4096", "Linear", [x, w, b], [F.linear(x, w, b)], params=(1, 2), atol=2e-5)

# ---------------------------------------------------------------------------
# Edge values (issue 15): NaN and inf, empty axes and zero-sized dims, huge and
# negative attributes, precision at large magnitudes. PyTorch computes each;
# where PyTorch itself refuses an input that ONNX defines (pool padding beyond
# half the kernel), the reference is the definition written with PyTorch ops.
torch.manual_seed(15)
x44 = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
case("avg_pool_ceil_include_pad_4x4", "AvgPool2d", [x44], [F.avg_pool2d(x44, 3, 2, ceil_mode=True)],
     {"kernel_size": [3], "stride": [2], "ceil_mode": True})
x = r(2, 3, 7, 9)
for include in (True, False):
    case(f"avg_pool_ceil_pad_include_{int(include)}", "AvgPool2d", [x],
         [F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=include)],
         {"kernel_size": [3], "stride": [2], "padding": [1], "ceil_mode": True, "count_include_pad": include})
case("max_pool_ceil_pad", "MaxPool2d", [x], [F.max_pool2d(x, 3, 2, 1, ceil_mode=True)],
     {"kernel_size": [3], "stride": [2], "padding": [1], "ceil_mode": True})
# Padding 2 with a 3-wide kernel: ONNX allows it, PyTorch's pool refuses it, so
# the reference pads explicitly (-inf for max; zeros counted for avg).
xp = F.pad(x, (2, 2, 2, 2), value=float("-inf"))
case("max_pool_pad_beyond_half", "MaxPool2d", [x], [F.max_pool2d(xp, 3, 1)],
     {"kernel_size": [3], "stride": [1], "padding": [2]})
case("avg_pool_pad_beyond_half", "AvgPool2d", [x], [F.avg_pool2d(F.pad(x, (2, 2, 2, 2)), 3, 1)],
     {"kernel_size": [3], "stride": [1], "padding": [2]})
ones = F.pad(torch.ones_like(x), (2, 2, 2, 2))
case("avg_pool_pad_beyond_half_exclude", "AvgPool2d", [x],
     [F.avg_pool2d(F.pad(x, (2, 2, 2, 2)), 3, 1, divisor_override=1) / F.avg_pool2d(ones, 3, 1, divisor_override=1)],
     {"kernel_size": [3], "stride": [1], "padding": [2], "count_include_pad": False})
xn = r(1, 2, 4, 4)
xn[0, 0, 0, 1] = float("nan")
xn[0, 1, 2:, 2:] = float("nan")  # a window of NaN only
xn[0, 0, 3, 3] = float("inf")
case("max_pool_nan", "MaxPool2d", [xn], [F.max_pool2d(xn, 2, 2)], {"kernel_size": [2]})
case("avg_pool_nan", "AvgPool2d", [xn], [F.avg_pool2d(xn, 2, 2)], {"kernel_size": [2]})
xr = r(3, 5, 4)
xr[0, 2, 1] = float("nan")
xr[1, :, :] = float("nan")
xr[2, 0, 0] = float("-inf")
case("argmax_nan", "ArgMax", [xr], [xr.argmax(1)], {"axis": 1})
case("reduce_max_nan_runs", "ReduceMax", [xr], [xr.amax(-1)], {"axes": [-1]})
case("reduce_max_nan_columns", "ReduceMax", [xr], [xr.amax(1)], {"axes": [1]})
case("reduce_max_nan_strided", "ReduceMax", [xr], [xr.amax((0, 2))], {"axes": [0, 2]})
xt = r(3, 6)
xt[0, 4] = float("nan")
xt[2, 1] = float("nan")
xt[1, 0] = float("inf")
for largest in (True, False):  # no ties: PyTorch leaves the order of equal values (NaNs too) unspecified
    v, i = torch.topk(xt, 3, dim=1, largest=largest)
    case(f"topk_nan_largest_{int(largest)}", "TopK", [xt], [v, i], {"k": 3, "axis": 1, "largest": largest})
empty = torch.zeros(3, 0, 4)
case("reduce_mean_empty_axis", "ReduceMean", [empty], [empty.mean(1)], {"axes": [1]})
case("reduce_sum_empty_axis", "ReduceSum", [empty], [empty.sum(1)], {"axes": [1]})
case("reduce_max_empty_rows", "ReduceMax", [empty], [empty.amax(2)], {"axes": [2]})
case("relu_empty", "Relu", [empty], [F.relu(empty)])
xl = r(4, 50) * 3 + 1e4
case("logsoftmax_large_magnitude", "LogSoftmax", [xl], [torch.log_softmax(xl.double(), -1).float()], atol=2e-6)
case("logsoftmax_nan_row", "LogSoftmax", [xr], [torch.log_softmax(xr, -1)])
data, idx = r(4, 6, 3), torch.tensor([-1, 0, -6, 5, -3])
case("gather_negative_indices", "Gather", [data, idx], [data[:, idx, :]], {"axis": 1})
xs = r(6, 5)
# PyTorch truncates slice bounds beyond int64 with a warning and returns no rows
# for x[1::2**63-1]; Python's and numpy's slices (which heed's Slice follows)
# give row 1, so numpy is the reference here.
case("slice_huge_step", "Slice", [xs], [torch.from_numpy(xs.numpy()[1::2**63 - 1].copy())],
     {"starts": [1], "ends": [2**63 - 1], "steps": [2**63 - 1]})
case("slice_int64_extremes", "Slice", [xs], [torch.from_numpy(xs.numpy()[:, -2**63:2**63 - 1].copy())],
     {"starts": [-2**63], "ends": [2**63 - 1], "axes": [1]})
w, b = torch.zeros(4, 0), r(4)
for act in ("none", "sigmoid"):
    case(f"linear_no_input_features_{act}", "Linear", [torch.zeros(3, 0), w, b], [acts[act](F.linear(torch.zeros(3, 0), w, b))],
         {"activation": act}, params=(1, 2))
case("linear_no_input_features_nobias", "Linear", [torch.zeros(2, 5, 0), w, None], [F.linear(torch.zeros(2, 5, 0), w)], params=(1,))
w7 = r(4, 7)
case("linear_empty_batch", "Linear", [torch.zeros(0, 7), w7, b], [F.linear(torch.zeros(0, 7), w7, b)], params=(1, 2))
xc, wc = torch.zeros(0, 3, 5, 5), r(2, 3, 3, 3)
case("conv_empty_batch", "Conv2d", [xc, wc], [F.conv2d(xc, wc)], params=(1,))
case("max_pool_empty_batch", "MaxPool2d", [xc], [F.max_pool2d(xc, 2)], {"kernel_size": [2]})

# local-p's window by distance (|s - p_t| <= D, as other Luong implementations
# choose it) beside heed's default floor(p_t) -/+ D, window and source weights.
torch.manual_seed(16)
q, k, v = r(2, 9, 6), r(2, 9, 6), r(2, 9, 4)
lens, Wp, vp = torch.tensor([9, 7], dtype=torch.int64), r(7, 6), r(7)
local_case("local_p_distance_rule", q, k, v, 2, 2, center="predictive", lengths=lens, Wp=Wp, vp=vp, rule="distance", atol=1e-5)
local_case("local_p_distance_rule_source", q, k, v, 3, 1, center="predictive", lengths=lens, Wp=Wp, vp=vp, rule="distance",
           source=True, atol=1e-5)
local_case("local_m_distance_rule", q, k, v, 2, 1, rule="distance")

# The sweep over every op family: NaN and inf inputs, zero-sized dims, negative
# axes. NaN/inf are PyTorch's results, in float64 where float32 PyTorch itself
# rounds differently between its CPU kernels.
torch.manual_seed(17)
special = torch.tensor([float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e30, -1e30, -1.0, 1.0, 88.8, -104.0, 3.5])
for op, (fn, _) in un_ops.items():
    case(f"{op.lower()}_special_values", op, [special], [fn(special.double()).float()], rtol=1e-5, atol=1e-6)
case("gelu_tanh_special_values", "Gelu", [special], [F.gelu(special.double(), approximate="tanh").float()],
     {"approximate": "tanh"}, rtol=1e-5, atol=1e-6)
pairs_a = special.repeat(12)
pairs_b = special.repeat_interleave(12)
for op, fn in {**bin_ops, "Pow": torch.pow}.items():
    case(f"{op.lower()}_special_values", op, [pairs_a, pairs_b], [fn(pairs_a.double(), pairs_b.double()).float()])
rows = torch.tensor([[1.0, 2.0, float("inf"), 0.5], [float("-inf"), 1.0, 2.0, 3.0], [float("nan"), 1.0, 2.0, 3.0],
                     [float("-inf")] * 4, [1e30, -1e30, 0.0, 1.0]])
case("softmax_special_rows", "Softmax", [rows], [torch.softmax(rows, -1)])
case("logsoftmax_special_rows", "LogSoftmax", [rows], [torch.log_softmax(rows, -1)])
case("layernorm_special_rows", "LayerNorm", [rows], [F.layer_norm(rows, (4,))])
wl = r(3, 4)
case("linear_special_rows", "Linear", [rows, wl], [F.linear(rows.double(), wl.double()).float()], params=(1,))
# Zero-sized dims: empty results (or, for an empty reduction, PyTorch's value).
e03, e30 = torch.zeros(0, 3), torch.zeros(3, 0)
for op, (fn, _) in un_ops.items():
    case(f"{op.lower()}_empty_rows", op, [e03], [fn(e03)])
b3 = r(3)
case("add_empty_broadcast", "Add", [e03, b3], [e03 + b3])
case("matmul_empty_depth", "MatMul", [e30, torch.zeros(0, 4)], [e30 @ torch.zeros(0, 4)])
case("matmul_empty_rows", "MatMul", [torch.zeros(0, 4), r(4, 2)], [torch.zeros(0, 2)])
xc = r(2, 3)
case("concat_with_empty_piece", "Concat", [torch.zeros(2, 0), xc], [torch.cat([torch.zeros(2, 0), xc], 1)], {"axis": 1})
case("split_empty_piece", "Split", [xc], list(torch.split(xc, [0, 3], 1)), {"axis": 1, "sizes": [0, 3]})
case("transpose_empty", "Transpose", [torch.zeros(0, 2, 3)], [torch.zeros(0, 2, 3).permute(2, 0, 1)], {"perm": [2, 0, 1]})
case("softmax_empty_rows", "Softmax", [e03], [torch.softmax(e03, -1)])
case("softmax_empty_axis", "Softmax", [e30], [torch.softmax(e30, -1)])
case("layernorm_empty_rows", "LayerNorm", [torch.zeros(0, 4)], [F.layer_norm(torch.zeros(0, 4), (4,))])
gd = r(4, 3)
case("gather_empty_indices", "Gather", [gd, torch.zeros(0, dtype=torch.int64)], [gd[torch.zeros(0, dtype=torch.int64)]], {"axis": 0})
case("embedding_empty_ids", "Embedding", [torch.zeros(2, 0, dtype=torch.int64), gd], [F.embedding(torch.zeros(2, 0, dtype=torch.int64), gd)],
     params=(1,))
case("slice_to_empty", "Slice", [xc], [xc[:, 2:1]], {"starts": [2], "ends": [1], "axes": [1]})
case("reshape_empty", "Reshape", [e03], [e03.reshape(2, -1, 3)], {"shape": [2, -1, 3]})
case("flatten_empty", "Flatten", [torch.zeros(0, 2, 3)], [torch.flatten(torch.zeros(0, 2, 3), 1)])
case("cast_empty", "Cast", [e03], [e03.to(torch.int64)], {"to": "i64"})
case("argmax_empty_rows", "ArgMax", [torch.zeros(0, 4)], [torch.zeros(0, 4).argmax(1)], {"axis": 1})
case("reduce_sum_empty_rows_axis0", "ReduceSum", [torch.zeros(0, 4)], [torch.zeros(0, 4).sum(0)], {"axes": [0]})
case("reduce_mean_empty_rows_axis0", "ReduceMean", [torch.zeros(0, 4)], [torch.zeros(0, 4).mean(0)], {"axes": [0]})
case("topk_k0", "TopK", [xc], list(torch.topk(xc, 0, dim=1)), {"k": 0, "axis": 1})
xb = torch.zeros(0, 3, 4, 4)
m, v_, g_, b_ = r(3), r(3).abs() + 0.5, r(3), r(3)
case("batch_norm_empty_batch", "BatchNorm2d", [xb, g_, b_, m, v_], [F.batch_norm(xb, m, v_, g_, b_)], params=(1, 2, 3, 4))
case("adaptive_pool_empty_batch", "AdaptiveAvgPool2d", [xb], [F.adaptive_avg_pool2d(xb, 2)], {"output_size": [2]})
# Negative axes everywhere an axis is taken.
x4 = r(2, 3, 4, 5)
case("softmax_axis_neg2", "Softmax", [x4], [torch.softmax(x4, -2)], {"axis": -2})
case("logsoftmax_axis_neg3", "LogSoftmax", [x4], [torch.log_softmax(x4, -3)], {"axis": -3})
case("concat_axis_neg2", "Concat", [x4, x4], [torch.cat([x4, x4], -2)], {"axis": -2})
case("split_axis_neg3", "Split", [x4], list(torch.split(x4, [1, 2], -3)), {"axis": -3, "sizes": [1, 2]})
xs1 = r(2, 1, 3, 1)
case("squeeze_axis_negative", "Squeeze", [xs1], [xs1.squeeze(-1)], {"axes": [-1]})
case("reduce_sum_axes_neg", "ReduceSum", [x4], [x4.sum((-1, -3))], {"axes": [-1, -3]})
case("reduce_max_axes_neg_keep", "ReduceMax", [x4], [x4.amax(-2, keepdim=True)], {"axes": [-2], "keepdims": True})
case("argmax_axis_neg2", "ArgMax", [x4], [x4.argmax(-2)], {"axis": -2})
v4, i4 = torch.topk(x4, 2, dim=-3)
case("topk_axis_neg3", "TopK", [x4], [v4, i4], {"k": 2, "axis": -3})
case("gather_axis_neg2_negative_indices", "Gather", [x4, torch.tensor([-1, 0, -3])], [x4[:, :, torch.tensor([-1, 0, -3]), :]],
     {"axis": -2})
case("flatten_negative_dims", "Flatten", [x4], [torch.flatten(x4, -3, -2)], {"start_dim": -3, "end_dim": -2})
case("slice_negative_axis_and_bounds", "Slice", [x4], [x4[..., -4:-1]], {"starts": [-4], "ends": [-1], "axes": [-1]})
case("layernorm_axis_neg2", "LayerNorm", [x4], [F.layer_norm(x4, (4, 5))], {"axis": -2})

# Comparisons, logic, selection, Expand, Erf and Abs (what ONNX exports' masks are built from).
ca, cb = r(3, 1, 6), r(4, 1)
cb[0, 0] = ca[0, 0, 0]  # one equal pair at least
for op, fn in {"Equal": torch.eq, "Less": torch.lt, "Greater": torch.gt, "LessOrEqual": torch.le,
               "GreaterOrEqual": torch.ge}.items():
    case(f"{op.lower()}_broadcast", op, [ca, cb], [fn(ca, cb)])
ia2, ib2 = torch.randint(-3, 3, (2, 5)), torch.randint(-3, 3, (5,))
case("equal_i64", "Equal", [ia2, ib2], [torch.eq(ia2, ib2)])
ba, bb = torch.rand(3, 5) > 0.5, torch.rand(5) > 0.5
case("and_broadcast", "And", [ba, bb], [ba & bb])
case("or_broadcast", "Or", [ba, bb], [ba | bb])
case("xor_broadcast", "Xor", [ba, bb], [ba ^ bb])
case("not", "Not", [ba], [~ba])
nan_in = r(4, 5)
nan_in[1, 2] = float("nan")
nan_in[3, 0] = float("inf")
case("isnan", "IsNaN", [nan_in], [torch.isnan(nan_in)])
wc, wx, wy = torch.rand(2, 1, 5) > 0.4, r(3, 5), torch.tensor(-1e9)
case("where_broadcast", "Where", [wc, wx, wy], [torch.where(wc, wx, wy)])
wi, wj = torch.randint(0, 9, (3, 5)), torch.randint(0, 9, (1, 5))
case("where_i64", "Where", [wc[0], wi, wj], [torch.where(wc[0], wi, wj)])
ex = r(3, 1)
case("expand", "Expand", [ex], [ex.expand(2, 3, 4)], {"shape": [2, 1, 4]})
ev = r(6, 7) * 3
case("erf", "Erf", [ev], [torch.erf(ev)])
case("abs", "Abs", [ev], [torch.abs(ev)])

# Shape arithmetic (what exports with dynamic axes compute at run time). Shape operands are weights
# here: heed must know them when it plans (a graph computes them from shapes; tests/onnx_dynamic_test.cc).
x4 = r(2, 3, 4, 5)
case("shape", "Shape", [x4], [torch.tensor(x4.shape)])
case("shape_start_end", "Shape", [x4], [torch.tensor(x4.shape[1:-1])], {"start": 1, "end": -1})
scalar = lambda v: torch.tensor(v, dtype=torch.int64)
case("range_i64", "Range", [scalar(2), scalar(11), scalar(3)], [torch.arange(2, 11, 3)], params=(0, 1, 2))
case("range_negative_delta", "Range", [scalar(10), scalar(1), scalar(-2)], [torch.arange(10, 1, -2)],
     params=(0, 1, 2))
case("range_empty", "Range", [scalar(5), scalar(5), scalar(1)], [torch.arange(5, 5)], params=(0, 1, 2))
case("range_i32", "Range", [torch.tensor(-3, dtype=torch.int32), torch.tensor(4, dtype=torch.int32),
                            torch.tensor(2, dtype=torch.int32)], [torch.arange(-3, 4, 2, dtype=torch.int32)],
     params=(0, 1, 2))
dims = torch.tensor([2, 3, 4])
case("constant_of_shape_f32", "ConstantOfShape", [dims], [torch.full((2, 3, 4), 1.5)], {"value": 1.5}, params=(0,))
case("constant_of_shape_i64", "ConstantOfShape", [dims[:2]], [torch.full((2, 3), 7, dtype=torch.int64)],
     {"value": 7.0, "dtype": "i64"}, params=(0,))
case("constant_of_shape_bool", "ConstantOfShape", [dims[1:]], [torch.ones(3, 4, dtype=torch.bool)],
     {"value": 1.0, "dtype": "bool"}, params=(0,))
ge_x, ge_i = r(3, 5, 4), torch.randint(0, 5, (3, 2, 4))
case("gather_elements_axis1", "GatherElements", [ge_x, ge_i], [torch.gather(ge_x, 1, ge_i)], {"axis": 1})
ge_ints, ge_j = torch.randint(-50, 50, (4, 6)), torch.randint(0, 6, (4, 3))
case("gather_elements_i64_last_axis", "GatherElements", [ge_ints, ge_j], [torch.gather(ge_ints, -1, ge_j)],
     {"axis": -1})
case("reshape_shape_input", "Reshape", [x4, torch.tensor([0, -1, 5])], [x4.reshape(2, -1, 5)], params=(1,))
ex3 = r(3, 1)
case("expand_shape_input", "Expand", [ex3, torch.tensor([2, 1, 4])], [ex3.expand(2, 3, 4)], params=(1,))
case("slice_bounds_input", "Slice", [x4, torch.tensor([1, -4]), torch.tensor([3, -1])], [x4[:, 1:3, :, -4:-1]],
     {"axes": [1, 3]}, params=(1, 2))

# Running sums, triangles, tiling, padding and products (position ids, causal masks, image borders).
cs = r(3, 5, 4)
case("cumsum_axis1", "CumSum", [cs], [torch.cumsum(cs, 1)], {"axis": 1}, atol=1e-5)
case("cumsum_exclusive_reverse", "CumSum", [cs], [torch.flip(torch.cumsum(torch.flip(cs, [-1]), -1), [-1]) - cs],
     {"axis": -1, "exclusive": True, "reverse": True}, atol=1e-5)
ci = torch.randint(0, 2, (2, 7))
case("cumsum_i64_mask_positions", "CumSum", [ci], [torch.cumsum(ci, 1)], {"axis": 1})
tr = r(2, 4, 6)
case("trilu_upper", "Trilu", [tr], [torch.triu(tr)])
case("trilu_upper_k2", "Trilu", [tr], [torch.triu(tr, 2)], {"k": 2})
case("trilu_lower_k_neg1", "Trilu", [tr], [torch.tril(tr, -1)], {"upper": False, "k": -1})
tb = torch.ones(5, 5, dtype=torch.bool)
case("trilu_bool_causal", "Trilu", [tb], [torch.tril(tb)], {"upper": False})
tl = r(2, 1, 3)
case("tile", "Tile", [tl], [torch.tile(tl, (2, 3, 2))], {"repeats": [2, 3, 2]})
case("tile_i64", "Tile", [ci], [torch.tile(ci, (3, 1))], {"repeats": [3, 1]})
pd = r(1, 2, 4, 5)
case("pad_constant", "Pad", [pd], [F.pad(pd, (1, 2, 3, 0), value=0.5)],
     {"pads": [0, 0, 3, 1, 0, 0, 0, 2], "value": 0.5})
case("pad_reflect", "Pad", [pd], [F.pad(pd, (2, 1, 1, 3), mode="reflect")],
     {"pads": [0, 0, 1, 2, 0, 0, 3, 1], "mode": "reflect"})
case("pad_edge", "Pad", [pd], [F.pad(pd, (3, 0, 2, 2), mode="replicate")],
     {"pads": [0, 0, 2, 3, 0, 0, 2, 0], "mode": "edge"})
case("pad_crop", "Pad", [pd], [pd[:, :, 1:, :-2]], {"pads": [0, 0, -1, 0, 0, 0, 0, -2]})
rp = r(3, 4, 5) * 0.5 + 1
case("reduce_prod_axis1", "ReduceProd", [rp], [rp.prod(1)], {"axes": [1]}, atol=1e-5)
case("reduce_prod_two_axes_keepdims", "ReduceProd", [rp], [rp.prod(2, keepdim=True).prod(0, keepdim=True)],
     {"axes": [0, 2], "keepdims": True}, atol=1e-5)
case("size", "Size", [rp], [torch.tensor(rp.numel())])

# Transposed convolution (decoders, upsampling): PyTorch's conv_transpose2d.
ctx, ctw, ctb = r(2, 4, 5, 6), r(4, 3, 3, 3), r(3)
case("conv_transpose_s2_p1_op1", "ConvTranspose2d", [ctx, ctw, ctb],
     [F.conv_transpose2d(ctx, ctw, ctb, stride=2, padding=1, output_padding=1)],
     {"stride": [2], "padding": [1], "output_padding": [1]}, params=(1, 2), atol=1e-5)
case("conv_transpose_p0_op1", "ConvTranspose2d", [ctx, ctw, None],
     [F.conv_transpose2d(ctx, ctw, stride=[2, 3], output_padding=[1, 2])],
     {"stride": [2, 3], "output_padding": [1, 2]}, params=(1,), atol=1e-5)
ctg, ctgb = r(4, 2, 2, 3), r(4)
case("conv_transpose_groups_dilation", "ConvTranspose2d", [ctx, ctg, ctgb],
     [F.conv_transpose2d(ctx, ctg, ctgb, groups=2, dilation=[2, 1], padding=[1, 0])],
     {"groups": 2, "dilation": [2, 1], "padding": [1, 0]}, params=(1, 2), atol=1e-5)

# Scaled dot-product attention over head-split tensors (what exported attention fuses into): PyTorch's
# F.scaled_dot_product_attention, weights by softmax of the scores (a fully masked row gives zeros).
def sdpa_reference(q, k, v, mask=None, scale=None):
    scores = q @ k.transpose(-1, -2) * (scale if scale is not None else q.shape[-1] ** -0.5)
    if mask is not None:
        scores = scores + mask
    w = torch.nan_to_num(torch.softmax(scores, -1), nan=0.0)
    return w @ v, w


sq, sk, sv = r(2, 3, 5, 8), r(2, 3, 7, 8), r(2, 3, 7, 6)
o, w = sdpa_reference(sq, sk, sv)
assert torch.allclose(o, F.scaled_dot_product_attention(sq, sk, sv), atol=1e-6)
case("sdpa", "ScaledDotProductAttention", [sq, sk, sv], [o, w], atol=1e-5)
pad = torch.zeros(2, 1, 1, 7)
pad[0, ..., 5:] = float("-inf")  # padding: the first sequence's last two keys
o, w = sdpa_reference(sq, sk, sv, pad, 0.3)
case("sdpa_padding_mask_scale", "ScaledDotProductAttention", [sq, sk.transpose(-1, -2), sv, pad], [o, w],
     {"scale": 0.3, "k_transposed": True}, atol=1e-5)
full = r(2, 3, 5, 7)
full[1, 2, 3, :] = float("-inf")  # a query that sees nothing
o, w = sdpa_reference(sq, sk, sv, full)
case("sdpa_per_head_mask", "ScaledDotProductAttention", [sq, sk, sv, full], [o, w], atol=1e-5)
causal = torch.full((5, 7), float("-inf")).triu(3)
o, w = sdpa_reference(sq, sk, sv, causal)
case("sdpa_query_mask", "ScaledDotProductAttention", [sq, sk, sv, causal], [o, w], atol=1e-5)

# Negative steps (numpy's x[::-1], x[5:1:-2]): PyTorch's flip and numpy's slicing as the reference.
ns = r(3, 7, 4)
case("slice_negative_step_reverse", "Slice", [ns], [torch.flip(ns, [1])],
     {"starts": [-1], "ends": [-(2 ** 63)], "axes": [1], "steps": [-1]})
case("slice_negative_steps", "Slice", [ns], [torch.from_numpy(ns.numpy()[:, 5:1:-2, ::-3].copy())],
     {"starts": [5, 10], "ends": [1, -10], "axes": [1, 2], "steps": [-2, -3]})

# Dilated max pooling (ONNX's MaxPool dilations): PyTorch's max_pool2d.
dp = r(2, 3, 9, 10)
dp[0, 1, 4, 4] = float("nan")
case("max_pool_dilation", "MaxPool2d", [dp], [F.max_pool2d(dp, 3, stride=2, padding=1, dilation=2)],
     {"kernel_size": [3], "stride": [2], "padding": [1], "dilation": [2]})
case("max_pool_dilation_ceil", "MaxPool2d", [dp], [F.max_pool2d(dp, [2, 3], stride=[2, 1], dilation=[3, 2],
                                                                 ceil_mode=True)],
     {"kernel_size": [2, 3], "stride": [2, 1], "dilation": [3, 2], "ceil_mode": True})

# ONNX Reshape's allowzero: a 0 in the target is a dim of 0, not the input's dim.
az = torch.zeros(0, 3, 4)
case("reshape_allowzero", "Reshape", [az], [az.reshape(3, 4, 0)], {"shape": [3, 4, 0], "allowzero": 1})
case("reshape_allowzero_shape_input", "Reshape", [az, torch.tensor([4, 0, 3])], [az.reshape(4, 0, 3)],
     {"allowzero": 1}, params=(1,))

# MultiHeadAttention's mask of any shape (input 16, what an imported Transformer's
# exported mask becomes): padding and causality in one [B, 1, T, S] additive mask, a
# per-head bool mask (true hides), a [B, 1, 1, S] one on the long blocked path, and
# cross-attention with one query a row.
mha4 = torch.nn.MultiheadAttention(16, 4, batch_first=True)
x4, mem4 = r(2, 6, 16), r(2, 9, 16)
pad_causal = torch.zeros(2, 1, 6, 6).masked_fill(torch.triu(torch.ones(6, 6, dtype=torch.bool), 1), float("-inf"))
pad_causal[1, 0, :, 5] = float("-inf")
pad_causal[0, 0, 2, 1] = -3.0  # an additive mask may hold any number, not only 0 and -inf
mha_case("mha_mask_batch_query", mha4, x4, mask4=pad_causal, atol=1e-5)
head_mask = torch.rand(2, 4, 6, 6) < 0.3
head_mask[..., 0] = False  # every query keeps a key
mha_case("mha_mask_per_head_bool", mha4, x4, mask4=head_mask, separate=True, atol=1e-5)
mha4_long = torch.nn.MultiheadAttention(32, 4, batch_first=True)
key_mask = torch.zeros(2, 1, 1, 300)
key_mask[1, 0, 0, 260:] = float("-inf")
mha_case("mha_mask_keys_long_blocked", mha4_long, r(2, 300, 32), mask4=key_mask, weights=False, atol=2e-5)
cross_mask = torch.zeros(2, 1, 1, 9)
cross_mask[0, 0, 0, 7:] = float("-inf")
mha_case("mha_mask_cross_one_query", mha4, r(2, 1, 16), mem4, mem4, mask4=cross_mask, atol=1e-5)

# Linear with weight_layout in_out: the weight is [in, out] (ONNX's MatMul operand, packed
# from where the file has it), y = x W + b. Prepacked (panels and oneDNN's packed copy; a
# wide weight, whose AVX2 panels pack from it with a partial last panel) and plain (the
# weight an input, read where it is).
in_out = {"weight_layout": "in_out"}
x, w, b = r(3, 5, 37), r(37, 19), r(19)
case("linear_in_out_gelu", "Linear", [x, w, b], [F.gelu(x @ w + b)], {**in_out, "activation": "gelu"}, params=(1, 2))
x, w, b = r(300, 33), r(33, 70), r(70)
case("linear_in_out_m300_k33", "Linear", [x, w, b], [x @ w + b], in_out, params=(1, 2), atol=1e-5)
w, b = seeded_uniform("linear_in_out_wide.weight", [136, 4100], -0.17, 0.17), r(4100)
for m in (1, 13):  # rows past 128 on oneDNN: linear_in_out_m300_k33
    x = r(m, 136)
    case(f"linear_in_out_wide_m{m}", "Linear", [x, w, b], [x @ w + b], in_out, params=(1, 2), atol=1e-5)
x, w, b = r(64, 256), r(256, 100) * 0.05, r(100)
case("linear_in_out_plain_weight", "Linear", [x, w, b], [x @ w + b], in_out, atol=1e-5)
x, w = r(7), r(7, 3)
case("linear_in_out_1d_input_nobias", "Linear", [x, w, None], [x @ w], in_out, params=(1,))

# LoadOptions::precision on the CPU's constant projections (backends/cpu/projection_lowp.h),
# Linear and MultiHeadAttention's. References in PyTorch, three per case:
#  - heed's scheme computed exactly: int8 = weights quantized per output channel, rows of x
#    per row, symmetric (round half to even), integer products summed exactly, then
#    acc * s_x * s_w + bias; bf16 = inputs and weights rounded to bf16, products summed in
#    float64. Tight tolerances: only the order of fp32 operations differs.
#  - PyTorch's own: torch.autocast bf16 (which also rounds its output to bf16), and
#    torch.ao dynamic quantization with per-channel weights (which quantizes activations per
#    tensor, affine u8: a different scheme, hence the wider tolerance).
#  - fp32: how far the precision moves the result.
def torch_int8_linear(x, w, b):
    lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    with torch.no_grad():
        lin.weight.copy_(w)
        if b is not None:
            lin.bias.copy_(b)
    qlin = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig})
    with torch.no_grad():
        return qlin(x)


def torch_bf16_linear(x, w, b):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return F.linear(x, w, b).float()


def span(t):
    return float(t.abs().max())


torch.manual_seed(20261204)
lowp_acts = {"none": lambda t: t, "relu": F.relu, "gelu": F.gelu}
for m, k, n, act in ((1, 96, 80, "none"), (7, 96, 80, "gelu"), (40, 256, 48, "relu")):
    x, w, b = r(m, k), r(n, k) * 0.1, r(n)
    fn, attrs, tag = lowp_acts[act], {"activation": act}, f"m{m}_k{k}_{act}"
    y32 = fn(F.linear(x, w, b))
    case(f"linear_int8_{tag}", "Linear", [x, w, b], [fn(int8_linear(x, w, b))], attrs, params=(1, 2), rtol=1e-5,
         atol=1e-5, precision="int8")
    case(f"linear_bf16_{tag}", "Linear", [x, w, b], [fn(bf16_linear(x, w, b))], attrs, params=(1, 2), rtol=1e-4,
         atol=1e-5, precision="bf16")
    # PyTorch's own (before the activation: its quantized Linear has none fused).
    if act == "none":
        case(f"linear_int8_torch_dynamic_{tag}", "Linear", [x, w, b], [torch_int8_linear(x, w, b)], attrs,
             params=(1, 2), rtol=0, atol=0.02 * span(y32), precision="int8")
        # autocast also rounds the bias and the output to bf16 (2^-8 relative).
        case(f"linear_bf16_torch_autocast_{tag}", "Linear", [x, w, b], [torch_bf16_linear(x, w, b)], attrs,
             params=(1, 2), rtol=8e-3, atol=2 ** -8 * span(b), precision="bf16")
    case(f"linear_int8_vs_f32_{tag}", "Linear", [x, w, b], [y32], attrs, params=(1, 2), rtol=0,
         atol=0.02 * span(y32), precision="int8")
    case(f"linear_bf16_vs_f32_{tag}", "Linear", [x, w, b], [y32], attrs, params=(1, 2), rtol=1e-2,
         atol=0.01 * span(y32), precision="bf16")
# A weight given as [in, out] (ONNX's MatMul operand), no bias; rows that are zero or not finite
# (int8: NaN out, never a finite guess), and a weight channel that is all zero.
x, w = r(5, 40), r(40, 24) * 0.2
x[1] = 0.0
w[:, 3] = 0.0
case("linear_int8_in_out_special_rows", "Linear", [x, w, None], [int8_linear(x, w.T, None)],
     {"weight_layout": "in_out"}, params=(1,), rtol=1e-5, atol=1e-5, precision="int8")
xn = x.clone()
xn[2, 7], xn[4, 0] = float("inf"), float("nan")
yn = int8_linear(xn.nan_to_num(0.0, 0.0, 0.0), w.T, None)
yn[2], yn[4] = float("nan"), float("nan")
case("linear_int8_not_finite_rows", "Linear", [xn, w, None], [yn], {"weight_layout": "in_out"}, params=(1,),
     rtol=1e-5, atol=1e-5, precision="int8")
case("linear_bf16_in_out", "Linear", [x, w, None], [bf16_linear(x, w.T, None)], {"weight_layout": "in_out"},
     params=(1,), rtol=1e-4, atol=1e-5, precision="bf16")


def not_finite_weight_case():
    """A weight channel holding inf (and one NaN): that output column is NaN, the rest as usual."""
    x, w, b = r(3, 24), r(10, 24) * 0.3, r(10)
    w[2, 5], w[7, 0] = float("inf"), float("nan")
    want = int8_linear(x, w.nan_to_num(0.0, 0.0, 0.0), b)
    want[:, 2], want[:, 7] = float("nan"), float("nan")
    case("linear_int8_not_finite_weight", "Linear", [x, w, b], [want], params=(1, 2), rtol=1e-5, atol=1e-5,
         precision="int8")


def lowp_mha(mha, x, lin, causal):
    """nn.MultiheadAttention's self-attention with its projections through `lin` (heed's
    scheme: the packed in_proj quantizes per output channel, as q/k/v apart would)."""
    E, H = mha.embed_dim, mha.num_heads
    sd = {k_: v_.detach() for k_, v_ in mha.state_dict().items()}
    q, k, v = lin(x, sd["in_proj_weight"], sd["in_proj_bias"]).double().split(E, dim=-1)
    heads = lambda t: t.reshape(t.shape[0], t.shape[1], H, E // H).transpose(1, 2)  # noqa: E731
    s = heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(E // H)
    if causal:
        s = s + torch.triu(torch.full(s.shape[-2:], float("-inf"), dtype=torch.float64), 1)
    ctx = (s.softmax(-1) @ heads(v)).transpose(1, 2).reshape(x.shape[0], x.shape[1], E).float()
    return lin(ctx, sd["out_proj.weight"], sd["out_proj.bias"])


mha_lowp = torch.nn.MultiheadAttention(32, 4, batch_first=True)
x = r(2, 6, 32)
for precision, lin in (("int8", int8_linear), ("bf16", bf16_linear)):
    for causal in (False, True):
        want = lowp_mha(mha_lowp, x, lin, causal)
        # int8: a context value within fp32 rounding of a rounding boundary may land one
        # quantum away in heed; the tolerance allows that quantum through out_proj.
        quantum = 2 * float(mha_lowp.out_proj.weight.detach().abs().max()) * span(want) / 127 if precision == "int8" else 1e-5
        mha_case(f"mha_{precision}_self{'_causal' if causal else ''}", mha_lowp, x, causal=causal, weights=False,
                 precision=precision, rtol=1e-4, atol=quantum, reference=want)

not_finite_weight_case()

# MatMul by a constant right operand (heed's own graphs; an imported MatMul is a Linear):
# the projection kernel, batch dims of a flattened into rows; b as [in, out] or transposed.
x, w = r(2, 3, 40), r(40, 24) * 0.2
case("matmul_int8_constant", "MatMul", [x, w], [int8_linear(x, w.T, None)], params=(1,), rtol=1e-5, atol=1e-5,
     precision="int8")
case("matmul_bf16_constant", "MatMul", [x, w], [bf16_linear(x, w.T, None)], params=(1,), rtol=1e-4, atol=1e-5,
     precision="bf16")
wt = r(24, 40) * 0.2
case("matmul_int8_constant_transpose_b", "MatMul", [x, wt], [int8_linear(x, wt, None)], {"transpose_b": True},
     params=(1,), rtol=1e-5, atol=1e-5, precision="int8")

# Projected keys shared by groups of query rows (heed's own: the beams of a source
# read its cross-attention keys): queries [6, 3, 16] over keys and a key padding
# mask of 2 sources, against PyTorch given each source's keys repeated for its 3 rows.
with torch.no_grad():
    sd = mha.state_dict()
    W, B = sd["in_proj_weight"], sd["in_proj_bias"]
    q_beams = r(6, 3, 16)
    kproj, vproj = projected_kv(mha, mem)
    pad = torch.tensor([[False] * 9, [False] * 6 + [True] * 3])
    mem_rows, pad_rows = mem.repeat_interleave(3, 0), pad.repeat_interleave(3, 0)
    out, w = mha(q_beams, mem_rows, mem_rows, key_padding_mask=pad_rows, need_weights=True, average_attn_weights=False)
case("mha_kv_projected_shared_by_rows", "MultiHeadAttention",
     mha_inputs(q_beams, kproj, vproj, W[:16], None, None, B[:16], None, None, sd["out_proj.weight"],
                sd["out_proj.bias"], kpm=pad),
     [out, w], {"num_heads": 4, "kv_projected": True}, params=(3, 6, 9, 10), atol=1e-5)

# Conv2d in bf16 (LoadOptions::precision): heed's scheme exactly (x and w rounded
# to bf16, products summed in float64, fp32 bias), PyTorch's autocast (which also
# rounds the bias and output to bf16), and fp32.
torch.manual_seed(20261205)
xc, wc, bc = r(2, 16, 12, 12), r(32, 16, 3, 3) * 0.1, r(32)
case("conv_bf16_pad", "Conv2d", [xc, wc, bc], [bf16_conv(xc, wc, bc, padding=1)], {"padding": [1]}, params=(1, 2),
     rtol=1e-4, atol=1e-5, precision="bf16")
with torch.autocast("cpu", dtype=torch.bfloat16):
    autocast_conv = F.conv2d(xc, wc, bc, padding=1).float()
case("conv_bf16_torch_autocast", "Conv2d", [xc, wc, bc], [autocast_conv], {"padding": [1]}, params=(1, 2),
     rtol=8e-3, atol=2 ** -8 * span(bc), precision="bf16")
y32 = F.conv2d(xc, wc, bc, padding=1)
case("conv_bf16_vs_f32", "Conv2d", [xc, wc, bc], [y32], {"padding": [1]}, params=(1, 2), rtol=1e-2,
     atol=0.01 * span(y32), precision="bf16")
w1c, resc = r(24, 16, 1, 1) * 0.2, r(2, 24, 6, 6)
case("conv_bf16_stride2_residual_relu", "Conv2d", [xc, w1c, None, resc],
     [F.relu(bf16_conv(xc, w1c, None, stride=2) + resc)], {"stride": [2], "activation": "relu"}, params=(1,),
     rtol=1e-4, atol=1e-5, precision="bf16")
wgc = r(32, 8, 3, 3) * 0.1
case("conv_bf16_grouped", "Conv2d", [xc, wgc, bc], [bf16_conv(xc, wgc, bc, padding=1, groups=2)],
     {"padding": [1], "groups": 2}, params=(1, 2), rtol=1e-4, atol=1e-5, precision="bf16")

# Conv2d in int8: heed's scheme exactly (x per tensor: u8 with max / 255 when no
# element is negative, else s8 with max|x| / 127; w per output channel, s8),
# integer sums exact in float64, then acc * s_w * s_x + bias (+ residual, ReLU).
# Without AVX-512 VNNI the weights take 7 bits (levels 63: outputs_7bit).
torch.manual_seed(20261206)
xs, ws, bs = r(2, 16, 12, 12), r(32, 16, 3, 3) * 0.1, r(32)
case("conv_int8_signed_input_pad", "Conv2d", [xs, ws, bs], [int8_conv(xs, ws, bs, padding=1)], {"padding": [1]},
     params=(1, 2), rtol=1e-5, atol=1e-5, precision="int8", outputs_7bit=[int8_conv(xs, ws, bs, padding=1, levels=63)])
y32 = F.conv2d(xs, ws, bs, padding=1)
case("conv_int8_vs_f32", "Conv2d", [xs, ws, bs], [y32], {"padding": [1]}, params=(1, 2), rtol=0,
     atol=0.03 * span(y32), precision="int8")
xu, w1s, ress = F.relu(r(2, 16, 12, 12)), r(24, 16, 1, 1) * 0.2, r(2, 24, 6, 6)
case("conv_int8_u8_input_stride2_residual_relu", "Conv2d", [xu, w1s, None, ress],
     [int8_conv(xu, w1s, None, ress, relu=True, stride=2)], {"stride": [2], "activation": "relu"}, params=(1,),
     rtol=1e-5, atol=1e-5, precision="int8",
     outputs_7bit=[int8_conv(xu, w1s, None, ress, relu=True, stride=2, levels=63)])
wgs = r(32, 8, 3, 3) * 0.1
case("conv_int8_grouped", "Conv2d", [xs, wgs, bs], [int8_conv(xs, wgs, bs, padding=1, groups=2)],
     {"padding": [1], "groups": 2}, params=(1, 2), rtol=1e-5, atol=1e-5, precision="int8",
     outputs_7bit=[int8_conv(xs, wgs, bs, padding=1, groups=2, levels=63)])

# Sizes that are not a multiple of the vector width (the passes' tails), and
# inputs that are all zero (the bias) or hold inf/NaN (NaN out, never a guess).
xo, wo, bo = r(1, 3, 7, 5), r(4, 3, 3, 3) * 0.3, r(4)
case("conv_int8_odd_size", "Conv2d", [xo, wo, bo], [int8_conv(xo, wo, bo, padding=1)], {"padding": [1]},
     params=(1, 2), rtol=1e-5, atol=1e-5, precision="int8", outputs_7bit=[int8_conv(xo, wo, bo, padding=1, levels=63)])
xou = F.relu(xo)
case("conv_int8_odd_size_u8", "Conv2d", [xou, wo, bo], [int8_conv(xou, wo, bo, padding=1)], {"padding": [1]},
     params=(1, 2), rtol=1e-5, atol=1e-5, precision="int8",
     outputs_7bit=[int8_conv(xou, wo, bo, padding=1, levels=63)])
xz = torch.zeros(1, 3, 7, 5)
case("conv_int8_zero_input", "Conv2d", [xz, wo, bo], [bo.reshape(1, -1, 1, 1).expand(1, 4, 7, 5).clone()],
     {"padding": [1]}, params=(1, 2), rtol=1e-5, atol=1e-5, precision="int8")
xi = xo.clone()
xi[0, 1, 3, 2] = float("inf")
case("conv_int8_inf_input", "Conv2d", [xi, wo, bo], [torch.full((1, 4, 7, 5), float("nan"))], {"padding": [1]},
     params=(1, 2), rtol=1e-5, atol=1e-5, precision="int8")

# LSTMCell and GRUCell in int8 and bf16: both gate GEMMs in the precision (as
# Linear), the gates' pointwise math in fp32, against that computed exactly here,
# and against PyTorch's fp32 cells.
def lowp_cells(precision, x, h, c, lstm, gru):
    lin = int8_linear if precision == "int8" else bf16_linear
    p = {k_: v_.detach() for k_, v_ in lstm.named_parameters()}
    h1, c1 = lstm_cell_gates(lin, x, h, c, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    q = {k_: v_.detach() for k_, v_ in gru.named_parameters()}
    gi, gh = lin(x, q["weight_ih"], q["bias_ih"]), lin(h, q["weight_hh"], q["bias_hh"])
    (ri, zi, ni), (rh, zh, nh) = gi.chunk(3, 1), gh.chunk(3, 1)
    r_, z_ = torch.sigmoid(ri + rh), torch.sigmoid(zi + zh)
    n_ = torch.tanh(ni + r_ * nh)
    return h1, c1, (1 - z_) * n_ + z_ * h


torch.manual_seed(20261207)
xl, hl, cl = r(3, 40), r(3, 24), r(3, 24)
lstm_l, gru_l = torch.nn.LSTMCell(40, 24), torch.nn.GRUCell(40, 24)
with torch.no_grad():
    h32, c32 = lstm_l(xl, (hl, cl))
    g32 = gru_l(xl, hl)
lstm_in = [xl, hl, cl] + [t.detach() for t in (lstm_l.weight_ih, lstm_l.weight_hh, lstm_l.bias_ih, lstm_l.bias_hh)]
gru_in = [xl, hl] + [t.detach() for t in (gru_l.weight_ih, gru_l.weight_hh, gru_l.bias_ih, gru_l.bias_hh)]
for precision, tol in (("int8", 1e-5), ("bf16", 1e-4)):
    h1, c1, g1 = lowp_cells(precision, xl, hl, cl, lstm_l, gru_l)
    case(f"lstm_cell_{precision}", "LSTMCell", lstm_in, [h1, c1], params=(3, 4, 5, 6), rtol=tol, atol=1e-5,
         precision=precision)
    case(f"gru_cell_{precision}", "GRUCell", gru_in, [g1], params=(2, 3, 4, 5), rtol=tol, atol=1e-5, precision=precision)
    case(f"lstm_cell_{precision}_vs_f32", "LSTMCell", lstm_in, [h32, c32], params=(3, 4, 5, 6), rtol=0, atol=0.02,
         precision=precision)
    case(f"gru_cell_{precision}_vs_f32", "GRUCell", gru_in, [g32], params=(2, 3, 4, 5), rtol=0, atol=0.02,
         precision=precision)

# MatMul by a constant left operand (a 1x1 convolution written as A @ X): each
# batch item's columns are the projection's rows (int8: quantized per column).
torch.manual_seed(20261208)
al, xl3 = r(24, 40) * 0.2, r(2, 40, 7)
cols = xl3.transpose(1, 2).reshape(-1, 40)
left_int8 = int8_linear(cols, al, None).reshape(2, 7, 24).transpose(1, 2)
case("matmul_int8_constant_left", "MatMul", [al, xl3], [left_int8], params=(0,), rtol=1e-5, atol=1e-5,
     precision="int8")
case("matmul_int8_constant_left_transposes", "MatMul", [al.T.contiguous(), xl3.transpose(1, 2).contiguous()],
     [left_int8], {"transpose_a": True, "transpose_b": True}, params=(0,), rtol=1e-5, atol=1e-5, precision="int8")
case("matmul_bf16_constant_left", "MatMul", [al, xl3],
     [bf16_linear(cols, al, None).reshape(2, 7, 24).transpose(1, 2)], params=(0,), rtol=1e-4, atol=1e-5,
     precision="bf16")

# The sequence ops LSTM and GRU in int8 and bf16: per layer and direction, the
# input GEMM over every step and the recurrent GEMM per step in the precision
# (rows quantized per row, as LSTMCell's), the gates in fp32; each sequence over
# its own length (the reverse direction from its last step). Against that scheme
# computed here, PyTorch's dynamically quantized LSTM, and fp32.
def lowp_rnn(module, x, lin, h0=None, c0=None, lengths=None):
    lstm = isinstance(module, torch.nn.LSTM)
    dirs, H, L = 2 if module.bidirectional else 1, module.hidden_size, module.num_layers
    inp = x.transpose(0, 1) if module.batch_first else x  # [T, B, I]
    T, B = inp.shape[:2]
    lens = lengths.tolist() if lengths is not None else [T] * B
    h0 = h0 if h0 is not None else torch.zeros(L * dirs, B, H)
    c0 = c0 if c0 is not None else torch.zeros(L * dirs, B, H)
    hn, cn = torch.zeros(L * dirs, B, H), torch.zeros(L * dirs, B, H)
    for layer in range(L):
        out = torch.zeros(T, B, dirs * H)
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w = {nm: getattr(module, nm + sfx, None) for nm in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            w = {k_: (v_.detach() if v_ is not None else None) for k_, v_ in w.items()}
            s = layer * dirs + d
            for b in range(B):
                n = lens[b]
                h, c = h0[s, b:b + 1], c0[s, b:b + 1]
                gx = lin(inp[:n, b], w["weight_ih"], w["bias_ih"])  # rows quantized apart: as heed's one GEMM
                for t in (range(n) if d == 0 else range(n - 1, -1, -1)):
                    gh = lin(h, w["weight_hh"], w["bias_hh"])
                    if lstm:
                        i, f, g, o = (gx[t:t + 1] + gh).chunk(4, 1)
                        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                        h = torch.sigmoid(o) * torch.tanh(c)
                    else:
                        (ri, zi, ni), (rh, zh, nh) = gx[t:t + 1].chunk(3, 1), gh.chunk(3, 1)
                        r_, z_ = torch.sigmoid(ri + rh), torch.sigmoid(zi + zh)
                        h = (1 - z_) * torch.tanh(ni + r_ * nh) + z_ * h
                    out[t, b, d * H:(d + 1) * H] = h[0]
                hn[s, b], cn[s, b] = h[0], c[0]
        inp = out
    y = inp.transpose(0, 1) if module.batch_first else inp
    return [y, hn, cn] if lstm else [y, hn]


def torch_dynamic_rnn(module, x):
    q = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(module), {type(module)}, dtype=torch.qint8)
    with torch.no_grad():
        y, st = q(x)
    return [y] + (list(st) if isinstance(module, torch.nn.LSTM) else [st])


torch.manual_seed(20261209)
lstm_q = torch.nn.LSTM(12, 8, num_layers=2, bidirectional=True)
gru_q = torch.nn.GRU(12, 8, num_layers=2, bidirectional=True, batch_first=True)
xq, xqb, lq = r(6, 3, 12), r(3, 6, 12), torch.tensor([6, 2, 4])
h0q, c0q = r(4, 3, 8), r(4, 3, 8)
lstm_nb = torch.nn.LSTM(5, 6, bias=False)
xnb = r(4, 2, 5)
for precision, tol in (("int8", 1e-5), ("bf16", 1e-4)):
    lin = int8_linear if precision == "int8" else bf16_linear
    kw = dict(rtol=tol, atol=1e-5, precision=precision)
    rnn_case(f"lstm_{precision}_two_layers_bidirectional_lengths", lstm_q, xq, lengths=lq,
             outs=lowp_rnn(lstm_q, xq, lin, lengths=lq), **kw)
    rnn_case(f"lstm_{precision}_initial_state", lstm_q, xq, h0q, c0q, outs=lowp_rnn(lstm_q, xq, lin, h0q, c0q), **kw)
    rnn_case(f"lstm_{precision}_no_bias", lstm_nb, xnb, outs=lowp_rnn(lstm_nb, xnb, lin), **kw)
    rnn_case(f"gru_{precision}_two_layers_bidirectional_lengths", gru_q, xqb, lengths=lq,
             outs=lowp_rnn(gru_q, xqb, lin, lengths=lq), **kw)
    rnn_case(f"lstm_{precision}_vs_f32", lstm_q, xq, rtol=0, atol=0.02, precision=precision)
    rnn_case(f"gru_{precision}_vs_f32", gru_q, xqb, rtol=0, atol=0.02, precision=precision)
# PyTorch's own int8 LSTM/GRU (quantize_dynamic: activations per tensor, affine u8).
rnn_case("lstm_int8_torch_dynamic", lstm_q, xq, outs=torch_dynamic_rnn(lstm_q, xq), rtol=0, atol=0.02,
         precision="int8")
rnn_case("gru_int8_torch_dynamic", gru_q, xqb, outs=torch_dynamic_rnn(gru_q, xqb), rtol=0, atol=0.02,
         precision="int8")

# Head size 64 without the weights output: heed's flash-style kernel on AVX-512
# (backends/cpu/flash_attention.h): query tiles of 8 and key tiles of 32 with
# partial last ones, masks of every shape, rows that see no key in their first
# key tiles (the running max starts at -inf) or none at all, large logits (the
# online rescaling).
torch.manual_seed(64)
fq, fk, fv = r(2, 3, 37, 64), r(2, 3, 70, 64), r(2, 3, 70, 64)
case("sdpa64_flash", "ScaledDotProductAttention", [fq, fk, fv], [sdpa_reference(fq, fk, fv)[0]], atol=2e-5)
fpad = torch.zeros(2, 1, 1, 70)
fpad[1, ..., :40] = float("-inf")  # the second sequence sees only keys 40..69: its first key tile is hidden
case("sdpa64_flash_padding_scale", "ScaledDotProductAttention", [fq, fk, fv, fpad],
     [sdpa_reference(fq, fk, fv, fpad, 0.05)[0]], {"scale": 0.05}, atol=2e-5)
fmask = r(2, 3, 37, 70)
fmask[0, 1, 5, :] = float("-inf")  # a query that sees nothing: zeros
fmask[1, 2, 36, :65] = float("-inf")  # one that sees only the last partial tile's keys
case("sdpa64_flash_per_head_mask", "ScaledDotProductAttention", [fq, fk, fv, fmask],
     [sdpa_reference(fq, fk, fv, fmask)[0]], atol=2e-5)
fcausal = torch.full((37, 70), float("-inf")).triu(34)
case("sdpa64_flash_query_mask_large_logits", "ScaledDotProductAttention", [fq * 8, fk, fv, fcausal],
     [sdpa_reference(fq * 8, fk, fv, fcausal)[0]], rtol=1e-4, atol=1e-4)
fsmall = r(1, 2, 3, 64)
case("sdpa64_flash_few_keys", "ScaledDotProductAttention", [fsmall, fk[:1, :2, :5], fv[:1, :2, :5]],
     [sdpa_reference(fsmall, fk[:1, :2, :5], fv[:1, :2, :5])[0]], atol=2e-5)
mha64 = torch.nn.MultiheadAttention(128, 2, batch_first=True)
x64 = r(2, 45, 128)
kpm64 = torch.zeros(2, 45, dtype=torch.bool)
kpm64[1, 30:] = True
mha_case("mha64_flash_causal_padding", mha64, x64, kpm=kpm64, causal=True, weights=False, atol=2e-5)
# Tiled (32 x 32) transposes: partial tiles, 4- and 8-byte elements, channels first to last.
xt = r(1, 36, 9)
case("transpose_tiled_rows", "Transpose", [xt], [xt.permute(0, 2, 1)], {"perm": [0, 2, 1]})
xc = r(1, 33, 2, 9)
case("transpose_tiled_channels_last", "Transpose", [xc], [xc.permute(0, 2, 3, 1)], {"perm": [0, 2, 3, 1]})
il = torch.randint(-9, 9, (9, 34))
case("transpose_tiled_i64", "Transpose", [il], [il.t()], {"perm": [1, 0]})

# MultiHeadAttention in bf16 with head size 64: where the CPU has AMX, heed's
# core runs in bf16 too (backends/cpu/flash_attention_amx.cc: Q (scaled), K, V
# and the probabilities rounded to bf16, sums fp32); elsewhere in fp32. The
# reference is that scheme in float64 with the probabilities exact; the
# tolerance is twice the larger gap of two emulations to it: the probabilities
# rounded to bf16 (the AMX core), and Q, K, V not rounded at all (an fp32 core).
# Weights and inputs seeded (generated by the tests): the file stays small.
E64 = 64
w64 = seeded_uniform("mha64_bf16.in_proj_weight", [3 * E64, E64], -0.2, 0.2)
b64 = seeded_uniform("mha64_bf16.in_proj_bias", [3 * E64], -0.1, 0.1)
wo64 = seeded_uniform("mha64_bf16.out_proj.weight", [E64, E64], -0.2, 0.2)
bo64 = seeded_uniform("mha64_bf16.out_proj.bias", [E64], -0.1, 0.1)
xb64 = seeded_uniform("mha64_bf16.x", [1, 40, E64], -2.0, 2.0)  # two key tiles, the second partial
kpmb64 = torch.zeros(1, 40, dtype=torch.bool)
kpmb64[0, 30:] = True


def bf16_core_mha(x, kpm, causal, round_inputs=True, round_probabilities=False):
    rnd = (lambda t: t.bfloat16().double()) if round_inputs else (lambda t: t.double())
    q, k, v = bf16_linear(x, w64, b64).double().split(E64, dim=-1)
    s = rnd(q * 0.125) @ rnd(k).transpose(-1, -2)
    T = x.shape[1]
    if causal:
        s = s + torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1)
    if kpm is not None:
        s = s.masked_fill(kpm[:, None, :], float("-inf"))
    e = (s - s.amax(-1, keepdim=True)).exp()
    p = (e.bfloat16().double() if round_probabilities else e) / e.sum(-1, keepdim=True)
    return bf16_linear((p @ rnd(v)).float(), wo64, bo64)


want64 = bf16_core_mha(xb64, kpmb64, True)
gap = max(float((bf16_core_mha(xb64, kpmb64, True, round_probabilities=True) - want64).abs().max()),
          float((bf16_core_mha(xb64, kpmb64, True, round_inputs=False) - want64).abs().max()))
case("mha64_bf16_causal_padding", "MultiHeadAttention",
     mha_inputs(xb64, None, None, w64, None, None, b64, None, None, wo64, bo64, kpmb64),
     [want64], {"num_heads": 1, "causal": True}, params=(3, 6, 9, 10), rtol=0, atol=2 * gap, precision="bf16")
# Against PyTorch's own bf16: nn.MultiheadAttention under torch.autocast (its
# projections' outputs rounded to bf16 too, and its SDPA in bf16).
mha_bf16_torch = torch.nn.MultiheadAttention(E64, 1, batch_first=True)
with torch.no_grad():
    mha_bf16_torch.in_proj_weight.copy_(w64)
    mha_bf16_torch.in_proj_bias.copy_(b64)
    mha_bf16_torch.out_proj.weight.copy_(wo64)
    mha_bf16_torch.out_proj.bias.copy_(bo64)
xt64 = seeded_uniform("mha64_bf16.x_short", [1, 24, E64], -2.0, 2.0)
with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
    torch_bf16 = mha_bf16_torch(xt64, xt64, xt64, need_weights=False)[0].float()
case("mha64_bf16_torch_autocast", "MultiHeadAttention",
     mha_inputs(xt64, None, None, w64, None, None, b64, None, None, wo64, bo64), [torch_bf16], {"num_heads": 1},
     params=(3, 6, 9, 10), rtol=2e-2, atol=2 ** -6 * span(torch_bf16), precision="bf16")

to_second_file = True

# Conv2d in int8 at the integers' extremes: every input at its type's largest
# magnitude (u8 255; s8 +-127), every weight at +-max (q = +-127, or +-63 in 7
# bits), so that each pair of products a 16-bit kernel adds is as large as it
# gets: with 8-bit weights and no AVX-512 VNNI they would saturate.
xe_u8 = torch.full((2, 16, 5, 5), 1.5)
xe_s8 = torch.tensor([1.5, -1.5]).repeat(400).reshape(2, 16, 5, 5)
we = torch.tensor([0.25, -0.25]).repeat(8).reshape(16, 1, 1, 1).repeat(1, 16, 3, 3)
we[1::4, ::2] *= -1.0
be = torch.linspace(-2.0, 2.0, 16)
for kind, xe in (("u8", xe_u8), ("s8", xe_s8)):
    case(f"conv_int8_extreme_{kind}_input", "Conv2d", [xe, we, be], [int8_conv(xe, we, be, padding=1)],
         {"padding": [1]}, params=(1, 2), rtol=1e-6, atol=1e-6, precision="int8",
         outputs_7bit=[int8_conv(xe, we, be, padding=1, levels=63)])

args = [a for a in sys.argv[1:] if a != "--fresh"]
out = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "fixtures", "ops.safetensors")
out2 = out.removesuffix(".safetensors") + "_2.safetensors"
for path in (out, out2):
    if os.path.exists(path) and "--fresh" not in sys.argv:
        # Tensors already stored keep their values: PyTorch's last digits differ between CPUs and versions,
        # and a new case should not rewrite every old one (the inputs are the same: one seed, cases appended).
        from safetensors.torch import load_file

        for name, value in load_file(path).items():
            if name in tensors and value.shape == tensors[name].shape and value.dtype == tensors[name].dtype:
                tensors[name] = value
save_file({k: v for k, v in tensors.items() if k not in second_file}, out,
          metadata={"cases": json.dumps(cases), "seeded": json.dumps(seeded_inputs),
                    "generator": "tests/reference/gen_op_fixtures.py", "torch": torch.__version__})
save_file({k: v for k, v in tensors.items() if k in second_file}, out2,
          metadata={"generator": "tests/reference/gen_op_fixtures.py", "torch": torch.__version__,
                    "cases": f"in {os.path.basename(out)}"})
print(f"{out} and {os.path.basename(out2)}: {len(cases)} cases, {len(tensors)} tensors stored, "
      f"{len(seeded_inputs)} generated by the tests")

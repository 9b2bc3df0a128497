#!/usr/bin/env python3
"""Builds small models as heed graphs over PyTorch modules' own weights, with the
PyTorch outputs to compare against:

  examples/mlp/          2-layer MLP + softmax (the bundled example the README runs)
  tests/fixtures/block.* a post-LayerNorm Transformer encoder layer, checked against
                         torch.nn.TransformerEncoderLayer with a key padding mask

Run: python3 tests/reference/gen_model_fixtures.py   (needs torch, safetensors)
"""
import json
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
torch.manual_seed(7)


def node(name, op, inputs, outputs, **attrs):
    return {"name": name, "op": op, "inputs": inputs, "outputs": outputs, "attrs": attrs}


def write(dirname, stem, graph, weights, inputs, expected):
    os.makedirs(dirname, exist_ok=True)
    doc = {"format": "heed.graph", "version": 1, "weights": f"{stem}.safetensors", "graphs": {"main": graph}}
    with open(os.path.join(dirname, f"{stem}.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    save_file({k: v.contiguous() for k, v in weights.items()}, os.path.join(dirname, f"{stem}.safetensors"))
    save_file({k: v.contiguous() for k, v in inputs.items()}, os.path.join(dirname, f"{stem}_inputs.safetensors"))
    save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(dirname, f"{stem}_expected.safetensors"))


def mlp():
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    x = torch.randn(4, 16)
    with torch.no_grad():
        logits = net(x)
        probs = torch.softmax(logits, -1)
    weights = {k: v.detach() for k, v in net.state_dict().items()}  # 0.weight, 0.bias, 2.weight, 2.bias
    graph = {
        "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", 16]}],
        "outputs": ["probs", "label"],
        "parameters": list(weights),
        "nodes": [
            node("fc1", "Linear", ["x", "0.weight", "0.bias"], ["h"], activation="relu"),
            node("fc2", "Linear", ["h", "2.weight", "2.bias"], ["logits"]),
            node("softmax", "Softmax", ["logits"], ["probs"], axis=-1),
            node("argmax", "ArgMax", ["logits"], ["label"], axis=-1),
        ],
    }
    write(os.path.join(ROOT, "examples", "mlp"), "mlp", graph, weights, {"x": x},
          {"probs": probs, "label": probs.argmax(-1)})


def block():
    d, heads, ff = 32, 4, 64
    hd = d // heads
    layer = torch.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation="gelu",
                                             batch_first=True, norm_first=False)
    layer.train()  # the plain (non-fast-path) computation; dropout is 0
    sd = {k: v.detach().clone() for k, v in layer.state_dict().items()}
    wq, wk, wv = sd.pop("self_attn.in_proj_weight").split(d)
    bq, bk, bv = sd.pop("self_attn.in_proj_bias").split(d)
    weights = dict(sd, **{"attn.q.weight": wq, "attn.k.weight": wk, "attn.v.weight": wv,
                          "attn.q.bias": bq, "attn.k.bias": bk, "attn.v.bias": bv})
    x = torch.randn(2, 5, d)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]])
    with torch.no_grad():
        y = layer(x, src_key_padding_mask=pad)
    mask = torch.zeros(2, 1, 1, 5).masked_fill(pad[:, None, None, :], float("-inf"))

    def heads_of(src, w):
        return [node(f"{w}_proj", "Linear", [src, f"attn.{w}.weight", f"attn.{w}.bias"], [f"{w}2"]),
                node(f"{w}_split", "Reshape", [f"{w}2"], [f"{w}4"], shape=[0, 0, heads, hd]),
                node(f"{w}_heads", "Transpose", [f"{w}4"], [w], perm=[0, 2, 1, 3])]

    graph = {
        "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", "seq", d]},
                   {"name": "mask", "dtype": "f32", "shape": ["batch", 1, 1, "seq"]}],
        "outputs": ["y"],
        "parameters": list(weights),
        "constants": [{"name": "scale", "dtype": "f32", "shape": [], "data": [hd ** -0.5]}],
        "nodes": heads_of("x", "q") + heads_of("x", "k") + heads_of("x", "v") + [
            node("scores", "MatMul", ["q", "k"], ["s"], transpose_b=True),
            node("scale_scores", "Mul", ["s", "scale"], ["s_scaled"]),
            node("attn_softmax", "Softmax", ["s_scaled", "mask"], ["p"]),
            node("context", "MatMul", ["p", "v"], ["c4"]),
            node("merge_heads", "Transpose", ["c4"], ["c4t"], perm=[0, 2, 1, 3]),
            node("merge", "Reshape", ["c4t"], ["c"], shape=[0, 0, d]),
            node("out_proj", "Linear", ["c", "self_attn.out_proj.weight", "self_attn.out_proj.bias"], ["a"]),
            node("residual1", "Add", ["x", "a"], ["r1"]),
            node("norm1", "LayerNorm", ["r1", "norm1.weight", "norm1.bias"], ["h1"]),
            node("ff1", "Linear", ["h1", "linear1.weight", "linear1.bias"], ["f1"], activation="gelu"),
            node("ff2", "Linear", ["f1", "linear2.weight", "linear2.bias"], ["f2"]),
            node("residual2", "Add", ["h1", "f2"], ["r2"]),
            node("norm2", "LayerNorm", ["r2", "norm2.weight", "norm2.bias"], ["y"]),
        ],
    }
    write(os.path.join(ROOT, "tests", "fixtures"), "block", graph, weights, {"x": x, "mask": mask}, {"y": y})


mlp()
block()
print("wrote examples/mlp/mlp.* and tests/fixtures/block.*")


def attention_demo():
    """examples/attention: the three attention ops on made-up data whose right
    answer is visible: queries copy keys in a shuffled order (global), a window
    around the diagonal (local), and a causal multi-head self-attention."""
    torch.manual_seed(3)
    src = "the quick brown fox jumps over the lazy dog".split()
    tgt = "dog lazy the over jumps fox brown quick the".split()
    S, D = len(src), 16
    keys = torch.nn.functional.normalize(torch.randn(1, S, D), dim=-1)
    order = [8, 7, 6, 5, 4, 3, 2, 1, 0]  # target t reads source order[t]
    query = keys[:, order, :] * 8.0
    mha = torch.nn.MultiheadAttention(D, 2, batch_first=True)
    sd = {k: v.detach() for k, v in mha.state_dict().items()}
    weights = {"in_proj_weight": sd["in_proj_weight"], "in_proj_bias": sd["in_proj_bias"],
               "out_proj.weight": sd["out_proj.weight"], "out_proj.bias": sd["out_proj.bias"]}
    graph = {
        "inputs": [{"name": "query", "dtype": "f32", "shape": [1, "tgt", D]},
                   {"name": "keys", "dtype": "f32", "shape": [1, "src", D]}],
        "outputs": ["global_ctx", "local_ctx", "self_ctx"],
        "parameters": list(weights),
        "nodes": [
            node("cross", "GlobalAttention", ["query", "keys", "keys"], ["global_ctx"], score="dot"),
            node("window", "LocalAttention", ["keys", "keys", "keys"], ["local_ctx"], left=2, right=2),
            node("self", "MultiHeadAttention", ["query", "", "", "in_proj_weight", "", "", "in_proj_bias", "", "",
                                                "out_proj.weight", "out_proj.bias"], ["self_ctx"],
                 num_heads=2, causal=True),
        ],
    }
    with torch.no_grad():
        p = torch.softmax(query @ keys.transpose(1, 2), -1)
        expected = {"global_ctx": p @ keys}
    d = os.path.join(ROOT, "examples", "attention")
    write(d, "attention", graph, weights, {"query": query, "keys": keys}, expected)
    with open(os.path.join(d, "tokens.txt"), "w") as f:
        f.write(" ".join(src) + "\n" + " ".join(tgt) + "\n")


attention_demo()

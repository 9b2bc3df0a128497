#!/usr/bin/env python3
"""Exports small PyTorch modules to ONNX (torch.onnx.export, the TorchScript
exporter at opset 17 and 13, as users run it) and records onnxruntime's outputs
on random inputs, for tests/onnx_test.cc:

  tests/fixtures/onnx/NAME.onnx         the exported model
  tests/fixtures/onnx/NAME_inputs.safetensors   the inputs by graph input name (heed run --inputs)
  tests/fixtures/onnx/NAME_io.safetensors
      input.X   the inputs fed to onnxruntime
      output.Y  onnxruntime's outputs (CPU, all graph optimizations)

Expected values come from onnxruntime (PyPI), never from heed.
Also small random-weight BERT, ViT, GPT-2 (logits) and Marian encoder from transformers' own classes.
Dynamic axes (gen_onnx_dynamic.py): BERT with dynamic batch and sequence, GPT-2 with past key/values,
a Marian encoder and decoder, each checked at several shapes, and greedy tokens from PyTorch.
More ops (more): torch's LSTM and GRU, ONNX's own LSTM/GRU node tests with their weights made initializers
(expected outputs ONNX's), einsum, 1-D MatMul, BatchNorm of rank 2, 3 and 5, flips.
ResNet-50 (resnet): torchvision's, with seeded weights in external data the test writes.
Run: python3 tests/reference/gen_onnx_fixtures.py [basic|transformers|more|resnet|dynamic|hostile ...]
     (needs torch, transformers, onnx, onnxruntime, safetensors)
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from safetensors.numpy import save_file

from gen_onnx_dynamic import dynamic_models

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "onnx")
torch.manual_seed(11)


class Mlp(torch.nn.Module):
    """Linear + exact GELU + LayerNorm + Linear + softmax: Gemm/MatMul+Add, the erf GELU, LayerNormalization."""

    def __init__(self):
        super().__init__()
        self.fc1, self.norm, self.fc2 = torch.nn.Linear(12, 24), torch.nn.LayerNorm(24), torch.nn.Linear(24, 5)

    def forward(self, x):
        return torch.softmax(self.fc2(self.norm(torch.nn.functional.gelu(self.fc1(x)))), dim=-1)


class Cnn(torch.nn.Module):
    """Conv + BatchNorm + ReLU, pools (ceil mode, padding), global average pool, flatten, Gemm."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False)
        self.fc = torch.nn.Linear(8, 4)
        with torch.no_grad():
            self.bn1.running_mean.uniform_(-0.2, 0.2)
            self.bn1.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.nn.functional.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
        x = torch.nn.functional.avg_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class Attention(torch.nn.Module):
    """Self-attention spelled out as exporters see it: projections, head split by view/transpose (shape
    arithmetic on static shapes), scaled scores, softmax, weighted sum, merge, output projection, residual."""

    def __init__(self, d=16, heads=2):
        super().__init__()
        self.heads, self.d = heads, d
        self.q, self.k, self.v, self.o = (torch.nn.Linear(d, d) for _ in range(4))
        self.norm = torch.nn.LayerNorm(d)

    def forward(self, x):
        b, t, _ = x.shape
        split = lambda y: y.view(b, t, self.heads, self.d // self.heads).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / (self.d // self.heads) ** 0.5
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, t, self.d)
        return self.norm(x + self.o(ctx))


class Hf(torch.nn.Module):
    """A transformers model called with keyword arguments, returning one tensor (exporters take positional ones)."""

    def __init__(self, model, keys, output):
        super().__init__()
        self.model, self.keys, self.output = model, keys, output

    def forward(self, *args):
        return getattr(self.model(**dict(zip(self.keys, args))), self.output)


def transformers_models(rand):
    """Small configs of the Transformers users export, random weights, static shapes (exporter's default)."""
    import transformers as tf

    ids = np.random.default_rng(5).integers(0, 100, (2, 8)).astype(np.int64)
    mask = np.ones((2, 8), np.int64)
    mask[1, 5:] = 0  # padding in the second sequence
    bert = tf.BertModel(tf.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=64, max_position_embeddings=64)).eval()
    export("bert", Hf(bert, ["input_ids", "attention_mask"], "last_hidden_state"), [ids, mask],
           names=["input_ids", "attention_mask"])
    vit = tf.ViTModel(tf.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                   num_attention_heads=4, intermediate_size=64)).eval()
    export("vit", Hf(vit, ["pixel_values"], "last_hidden_state"), [rand(2, 3, 32, 32)], names=["pixel_values"])
    gpt2 = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=100, n_positions=64, n_embd=32, n_layer=2, n_head=4)).eval()
    causal = np.ones((2, 8), np.int64)
    export("gpt2", Hf(gpt2, ["input_ids", "attention_mask"], "logits"), [ids, causal],
           names=["input_ids", "attention_mask"])
    marian = tf.MarianMTModel(tf.MarianConfig(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2,
                                              encoder_attention_heads=4, decoder_attention_heads=4,
                                              encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                                              pad_token_id=99, decoder_start_token_id=99)).eval()
    export("marian_encoder", Hf(marian.get_encoder(), ["input_ids", "attention_mask"], "last_hidden_state"),
           [ids, mask], names=["input_ids", "attention_mask"])


class Conv1d(torch.nn.Module):
    """1-D forms (speech and text CNNs): Conv1d with padding, stride, dilation and groups, 1-D pools, global pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(4, 8, 5, stride=2, padding=2)
        self.conv2 = torch.nn.Conv1d(8, 8, 3, padding=2, dilation=2, groups=2)

    def forward(self, x):
        x = torch.nn.functional.max_pool1d(torch.relu(self.conv1(x)), 3, stride=2, padding=1, ceil_mode=True)
        x = torch.nn.functional.avg_pool1d(self.conv2(x), 2)
        return torch.cat([x, x.mean(-1, keepdim=True), torch.nn.functional.adaptive_avg_pool1d(x, 1)], -1)


class Activations(torch.nn.Module):
    """The activations heed composes from its own ops: ELU, Hardsigmoid, LeakyReLU, PReLU, clamp (Clip)."""

    def __init__(self):
        super().__init__()
        self.prelu = torch.nn.PReLU(4, init=0.3)

    def forward(self, x):
        a = torch.nn.functional.elu(x, alpha=0.7) + torch.nn.functional.hardsigmoid(x)
        b = torch.nn.functional.leaky_relu(x, 0.1) * torch.nn.functional.leaky_relu(x, 2.5)
        return a + b + self.prelu(x) + torch.clamp(x, -0.5, 0.8) + torch.clamp(x, min=0.2)


def export(name, module, inputs, opset=17, dynamic_axes=None, external=False, names=None):
    module.eval()
    path = os.path.join(OUT, f"{name}.onnx")
    names = names or [f"x{i}" if len(inputs) > 1 else "x" for i in range(len(inputs))]
    torch.onnx.export(module, tuple(torch.from_numpy(i) for i in inputs), path, dynamo=False, opset_version=opset,
                      input_names=names, output_names=["y"], dynamic_axes=dynamic_axes)
    if external:  # the weights in NAME.onnx.data beside the model
        model = onnx.load(path)
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location=f"{name}.onnx.data", size_threshold=0)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outputs = session.run(None, dict(zip(names, inputs)))
    tensors = {f"input.{n}": i for n, i in zip(names, inputs)}
    tensors.update({f"output.{o.name}": v for o, v in zip(session.get_outputs(), outputs)})
    save_file(tensors, os.path.join(OUT, f"{name}_io.safetensors"))
    save_file(dict(zip(names, inputs)), os.path.join(OUT, f"{name}_inputs.safetensors"))  # for heed run
    ops = sorted({n.op_type for n in onnx.load(path, load_external_data=False).graph.node})
    print(f"{name}: opset {opset}, ops {', '.join(ops)}")


def hostile():
    """Models heed must refuse with one line naming the file and node (tests/onnx_test.cc)."""
    from onnx import TensorProto, helper

    def save(name, nodes, inputs, outputs, initializers=(), opset=17, domain=""):
        graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, opset)])
        model.ir_version = 8
        onnx.save(model, os.path.join(OUT, f"bad_{name}.onnx"))

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    save("unknown_op", [helper.make_node("Hardmax", ["x"], ["y"], name="hm")], [x], [y])
    save("opset9", [helper.make_node("Relu", ["x"], ["y"], name="r")], [x], [y], opset=9)
    save("opset18", [helper.make_node("Relu", ["x"], ["y"], name="r")], [x], [y], opset=18)
    save("cycle", [helper.make_node("Relu", ["z"], ["y"], name="first"), helper.make_node("Relu", ["y"], ["z"], name="second")],
         [x], [y])
    shape = helper.make_tensor_value_info("shape", TensorProto.INT64, [2])
    save("runtime_shape", [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")], [x, shape], [y])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [0.0] * 16)
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "missing.bin"), ("offset", "0"), ("length", "64")):
        w.external_data.add(key=key, value=value)
    save("missing_external", [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [x], [y], [w])
    w.external_data[0].value = "../../../../etc/passwd"
    save("escaping_external", [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [x], [y], [w])
    short = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [0.0] * 16, raw=False)
    short.float_data[:] = [1.0] * 3
    save("short_initializer", [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [x], [y], [short])
    seq = helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, None)
    save("sequence_input", [helper.make_node("Identity", ["s"], ["y"], name="id")], [seq], [y])
    save("custom_domain", [helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")], [x], [y])
    print("bad_*.onnx written")


class Recurrent(torch.nn.Module):
    """A 2-layer bidirectional LSTM then a GRU, as torch.onnx.export writes them (ONNX LSTM/GRU nodes, one a
    layer, linear_before_reset 1), with initial states."""

    def __init__(self, batch_first):
        super().__init__()
        self.lstm = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=batch_first)
        self.gru = torch.nn.GRU(10, 4, batch_first=batch_first)

    def forward(self, x, h0):
        y, (h, c) = self.lstm(x, (h0, torch.zeros_like(h0)))
        z, g = self.gru(y)
        return z, h, c, g


class Einsums(torch.nn.Module):
    """The einsum forms attention code writes, exported as ONNX Einsum nodes."""

    def forward(self, q, k, v, w):
        scores = torch.einsum("bhid,bhjd->bhij", q, k).softmax(-1)
        context = torch.einsum("bhij,bhjd->bhid", scores, v)
        projected = torch.einsum("bhid,hde->bie", context, w)  # heads merged by the projection
        outer = torch.einsum("bie,bje->bij", projected, projected)
        return torch.einsum("bij->bji", outer) + torch.einsum("bie->bi", projected)[:, :, None], \
            torch.einsum("bhid,bhid->bh", q, q), torch.einsum("i,j->ij", w[0, 0], w[1, 1])


class VectorsAndNorms(torch.nn.Module):
    """MatMul with 1-D operands (numpy's rules), BatchNorm over [N, C], [N, C, L] and [N, C, D, H, W] (no conv
    before them to fold into), a flip (a Slice of step -1) and a reversed cumulative sum."""

    def __init__(self):
        super().__init__()
        self.bn1, self.bn3 = torch.nn.BatchNorm1d(4), torch.nn.BatchNorm3d(2)
        for bn in (self.bn1, self.bn3):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)

    def forward(self, x, v, volume):
        xv = x @ v                            # [2, 3, 4] @ [4] -> [2, 3]
        vx = v @ x.transpose(1, 2)            # [4] @ [2, 4, 3] -> [2, 3]
        return xv + vx + v @ v, self.bn1(x.transpose(1, 2)), self.bn1(x[:, 0]), self.bn3(volume), \
            torch.flip(x, [1]).cumsum(1)


def onnx_node_tests_with_weights():
    """ONNX's own LSTM and GRU node tests (Debian's libonnx-testdata) with W, R and B made initializers (heed
    needs weights at load; the tests feed them as inputs): expected outputs are ONNX's, not onnxruntime's."""
    from onnx import numpy_helper

    node_dir = "/usr/share/libonnx-testdata/data/node"
    for case in ("test_gru_defaults", "test_gru_seq_length", "test_gru_with_initial_bias", "test_gru_batchwise",
                 "test_lstm_defaults", "test_lstm_with_initial_bias", "test_lstm_batchwise"):
        model = onnx.load(os.path.join(node_dir, case, "model.onnx"))
        data = os.path.join(node_dir, case, "test_data_set_0")
        values = [numpy_helper.to_array(onnx.load_tensor(os.path.join(data, f"input_{i}.pb")))
                  for i in range(len(model.graph.input))]
        inputs = {}
        for info, value in zip(list(model.graph.input), values):
            if info.name in ("W", "R", "B"):
                model.graph.initializer.append(numpy_helper.from_array(value, info.name))
                model.graph.input.remove(info)
            else:
                inputs[info.name] = value
        name = case[len("test_"):]
        onnx.save(model, os.path.join(OUT, f"{name}.onnx"))
        tensors = {f"input.{k}": v for k, v in inputs.items()}
        for i, out in enumerate(model.graph.output):
            tensors[f"output.{out.name}"] = numpy_helper.to_array(onnx.load_tensor(os.path.join(data, f"output_{i}.pb")))
        save_file(tensors, os.path.join(OUT, f"{name}_io.safetensors"))
        print(f"{name}: ONNX's expected outputs")


def handmade():
    """Nodes no exporter writes in this form, built with onnx.helper; expected outputs from onnxruntime."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [0, 3, 4])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("zero_dim", "kept_dim")]
    nodes = [helper.make_node("Reshape", ["x", "to_zero"], ["zero_dim"], name="allowzero", allowzero=1),
             helper.make_node("Reshape", ["x", "keep_first"], ["kept_dim"], name="keep")]
    inits = [helper.make_tensor("to_zero", TensorProto.INT64, [3], [3, 4, 0]),
             helper.make_tensor("keep_first", TensorProto.INT64, [2], [0, 12])]
    graph = helper.make_graph(nodes, "reshape_allowzero", [x], outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = os.path.join(OUT, "reshape_allowzero.onnx")
    onnx.save(model, path)
    feed = {"x": np.zeros((0, 3, 4), np.float32)}
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    tensors = {"input.x": feed["x"]}
    tensors.update({f"output.{o.name}": v for o, v in zip(session.get_outputs(), session.run(None, feed))})
    save_file(tensors, os.path.join(OUT, "reshape_allowzero_io.safetensors"))
    print("reshape_allowzero:", {k: v.shape for k, v in tensors.items()})


def more_ops(rand):
    for batch_first in (False, True):
        x = rand(7, 3, 6) if not batch_first else rand(3, 7, 6)
        export("recurrent" + ("_batch_first" if batch_first else ""), Recurrent(batch_first), [x, rand(4, 3, 5)],
               names=["x", "h0"])
    onnx_node_tests_with_weights()
    export("vectors_and_norms", VectorsAndNorms(), [rand(2, 3, 4), rand(4), rand(1, 2, 3, 4, 5)],
           names=["x", "v", "volume"])
    export("einsum", Einsums(), [rand(2, 3, 5, 4), rand(2, 3, 6, 4), rand(2, 3, 6, 4), rand(3, 4, 7)],
           names=["q", "k", "v", "w"])


def resnet50():
    """torchvision's ResNet-50 as torch.onnx.export writes it (BatchNorm folded into the convs), its weights
    replaced by seeded tensors (tests/reference/seeded.py) kept in external data that is not committed: the
    test writes resnet50_onnx.data again from resnet50_onnx.manifest.json (name, shape, range, offset)."""
    import json
    import math

    import torchvision
    from onnx import external_data_helper, numpy_helper
    from seeded import uniform

    path = os.path.join(OUT, "resnet50.onnx")
    torch.onnx.export(torchvision.models.resnet50(weights=None).eval(), (torch.zeros(2, 3, 64, 64),), path,
                      dynamo=False, opset_version=17, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}})
    model = onnx.load(path)
    manifest, offset = [], 0
    with open(os.path.join(OUT, "resnet50_onnx.data"), "wb") as data:
        for init in model.graph.initializer:
            shape = list(init.dims)
            if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(shape)) < 256:
                continue  # shape constants and small biases stay in the model
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            # Convs: half of Kaiming's range, so 16 residual blocks keep the activations near unit scale.
            bound = 0.5 * math.sqrt(6.0 / fan_in) if len(shape) == 4 else math.sqrt(3.0 / fan_in) if len(shape) == 2 else 0.1
            raw = uniform(init.name, shape, -bound, bound).numpy().tobytes()
            offset = (offset + 63) // 64 * 64
            data.seek(offset)
            data.write(raw)
            init.ClearField("float_data")
            init.raw_data = raw  # set_external_data wants it there, then it goes
            external_data_helper.set_external_data(init, "resnet50_onnx.data", offset, len(raw))
            init.ClearField("raw_data")
            init.data_location = onnx.TensorProto.EXTERNAL
            manifest.append({"name": init.name, "shape": shape, "low": -bound, "high": bound, "offset": offset})
            offset += len(raw)
    onnx.save(model, path)
    image = uniform("image", [2, 3, 64, 64], -2.0, 2.0).numpy()
    logits = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"image": image})[0]
    save_file({"input.image": image, "output.logits": logits}, os.path.join(OUT, "resnet50_io.safetensors"))
    with open(os.path.join(OUT, "resnet50_onnx.manifest.json"), "w") as f:
        json.dump(manifest, f)
    os.remove(os.path.join(OUT, "resnet50_onnx.data"))
    print(f"resnet50: {len(manifest)} seeded weights, {offset >> 20} MiB of external data (not kept), "
          f"logits in [{logits.min():.3g}, {logits.max():.3g}]")


def basic(rand):
    export("mlp", Mlp(), [rand(3, 12)], dynamic_axes={"x": {0: "batch"}})
    export("mlp_opset13", Mlp(), [rand(3, 12)], opset=13)
    export("mlp_external", Mlp(), [rand(2, 12)], external=True)
    export("cnn", Cnn(), [rand(2, 3, 17, 17)], dynamic_axes={"x": {0: "batch"}})
    export("attention", Attention(), [rand(2, 5, 16)])
    export("activations", Activations(), [rand(2, 4, 5) * 3])
    export("conv1d", Conv1d(), [rand(2, 4, 33)])


GROUPS = {"basic": basic, "transformers": transformers_models, "more": more_ops, "resnet": lambda rand: resnet50(), "dynamic": lambda rand: dynamic_models(OUT),
          "hostile": lambda rand: hostile(), "handmade": lambda rand: handmade()}


def main(groups):
    """Writes the fixtures of the named groups (all when none are named): each group's models are
    made from a seed of their own, so regenerating one group leaves the others' files as they are."""
    os.makedirs(OUT, exist_ok=True)
    rand = lambda *shape: np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    for name in groups or GROUPS:
        torch.manual_seed(11)
        GROUPS[name](rand)


if __name__ == "__main__":
    main(sys.argv[1:])

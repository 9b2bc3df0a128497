#!/usr/bin/env python3
"""torchvision ResNet-18 and ResNet-50 as heed graphs over torchvision's own
state_dict names, with seeded weights (tests/reference/seeded.py) so that only the
graph, a manifest and PyTorch's logits are committed:

  tests/fixtures/resnet{18,50}.json            the graph (weights: see the manifest)
  tests/fixtures/resnet{18,50}.manifest.json   name, shape and range of every weight
  tests/fixtures/resnet{18,50}_io.safetensors  the seeded input and torchvision's logits

Also used by bench/ to build the benchmark models. Run: python3 tests/reference/gen_resnet_fixtures.py
"""
import json
import math
import os
import sys

import torch
import torchvision
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seeded import uniform  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def weight_range(name, shape):
    """Ranges that keep a deep random network's activations in a sane range."""
    if len(shape) == 4:  # conv: Kaiming-uniform for ReLU
        bound = math.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
        return -bound, bound
    if name == "fc.weight":
        bound = math.sqrt(3.0 / shape[1])
        return -bound, bound
    if name == "fc.bias":
        return -0.01, 0.01
    if name.endswith("running_var"):
        return 0.75, 1.25
    if name.endswith("running_mean"):
        return -0.1, 0.1
    if name.endswith(".weight"):  # BatchNorm gamma; the last of a residual branch smaller
        last = name.endswith(("bn3.weight", "layer1.0.bn2.weight")) or (".bn2." in name and "layer" in name)
        return (0.1, 0.3) if last else (0.5, 1.0)
    return -0.1, 0.1  # BatchNorm beta


class GraphBuilder:
    def __init__(self):
        self.nodes = []

    def node(self, name, op, inputs, **attrs):
        self.nodes.append({"name": name, "op": op, "inputs": inputs, "outputs": [name], "attrs": attrs})
        return name

    def conv_bn(self, prefix, conv, bn, x):
        c = self.node(prefix + conv, "Conv2d", [x, f"{prefix}{conv}.weight"], stride=[conv_mod(prefix + conv).stride[0]],
                      padding=[conv_mod(prefix + conv).padding[0]])
        return self.node(prefix + bn, "BatchNorm2d", [c] + [f"{prefix}{bn}.{k}" for k in
                                                          ("weight", "bias", "running_mean", "running_var")])


MODULES = {}


def conv_mod(path):
    return MODULES[path]


def build(model, depth):
    MODULES.clear()
    MODULES.update(dict(model.named_modules()))
    g = GraphBuilder()
    x = g.conv_bn("", "conv1", "bn1", "image")
    x = g.node("relu", "Relu", [x])
    x = g.node("maxpool", "MaxPool2d", [x], kernel_size=[3], stride=[2], padding=[1])
    bottleneck = depth >= 50
    for li in range(1, 5):
        layer = getattr(model, f"layer{li}")
        for bi in range(len(layer)):
            p = f"layer{li}.{bi}."
            h = g.node(p + "relu1", "Relu", [g.conv_bn(p, "conv1", "bn1", x)])
            if bottleneck:
                h = g.node(p + "relu2", "Relu", [g.conv_bn(p, "conv2", "bn2", h)])
                h = g.conv_bn(p, "conv3", "bn3", h)
            else:
                h = g.conv_bn(p, "conv2", "bn2", h)
            identity = x
            if layer[bi].downsample is not None:
                identity = g.conv_bn(p, "downsample.0", "downsample.1", x)
            x = g.node(p + "relu", "Relu", [g.node(p + "add", "Add", [h, identity])])
    x = g.node("avgpool", "AdaptiveAvgPool2d", [x], output_size=[1])
    x = g.node("flatten", "Flatten", [x])
    g.node("fc", "Linear", [x, "fc.weight", "fc.bias"])
    g.nodes[-1]["outputs"] = ["logits"]
    return g.nodes


def main():
    torch.manual_seed(0)
    for depth in (18, 50):
        model = getattr(torchvision.models, f"resnet{depth}")(weights=None).eval()
        sd = model.state_dict()
        manifest, params = [], []
        for name, t in sd.items():
            if name.endswith("num_batches_tracked"):
                continue
            lo, hi = weight_range(name, list(t.shape))
            manifest.append({"name": name, "shape": list(t.shape), "low": lo, "high": hi})
            sd[name] = uniform(name, list(t.shape), lo, hi)
            params.append(name)
        model.load_state_dict(sd)
        image = uniform("image", [2, 3, 64, 64], -2.0, 2.0)
        with torch.no_grad():
            logits = model(image)
        graph = {"inputs": [{"name": "image", "dtype": "f32", "shape": ["batch", 3, "height", "width"]}],
                 "outputs": ["logits"], "parameters": params, "nodes": build(model, depth)}
        doc = {"format": "heed.graph", "version": 1,
               "description": f"torchvision ResNet-{depth}; weights by tests/reference/gen_resnet_fixtures.py",
               "graphs": {"main": graph}}
        d = os.path.join(ROOT, "tests", "fixtures")
        with open(os.path.join(d, f"resnet{depth}.json"), "w") as f:
            json.dump(doc, f, indent=1)
        with open(os.path.join(d, f"resnet{depth}.manifest.json"), "w") as f:
            json.dump(manifest, f)
        save_file({"image": image.contiguous(), "logits": logits.contiguous()},
                  os.path.join(d, f"resnet{depth}_io.safetensors"))
        print(f"resnet{depth}: {len(manifest)} weights, logits std {logits.std():.3f}, max {logits.abs().max():.3f}")


if __name__ == "__main__":
    main()

"""Deterministic pseudo-random tensors that tests/seeded_weights.cc reproduces bit
for bit, so that large models (ResNet-50: 100 MB of weights) need no committed
weights: only a manifest of names, shapes and ranges, and PyTorch's outputs."""
import numpy as np
import torch

M64 = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def uniform(name, shape, low, high):
    """splitmix64 over the counter 1..n, seeded by the name; top 24 bits -> [0, 1)."""
    n = int(np.prod(shape)) if len(shape) else 1
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(name)) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    v = np.float32(low) + u * np.float32(high - low)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))

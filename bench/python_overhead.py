#!/usr/bin/env python3
"""What calling heed from Python adds (issue 18): Session.run from Python against
the same C++ Session::run on the same session and inputs (timed inside the
module, no Python in the loop), and against onnxruntime's InferenceSession.run
and PyTorch eager on the same graphs, same threads, one process. Prints a
Markdown table; medians of --repeats means of --iters calls.

  PYTHONPATH=build/python python3 bench/python_overhead.py --threads 1
"""

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

import heed
from peers import median_us

ROOT = Path(__file__).resolve().parents[1]


class Add(torch.nn.Module):
    def forward(self, a, b):
        return a + b


def mlp_module():
    """examples/mlp as a PyTorch module, with the example's weights."""
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10), torch.nn.Softmax(-1))
    data = (ROOT / "examples" / "mlp" / "mlp.safetensors").read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    state = {}
    for name, info in header.items():
        if name != "__metadata__":
            begin, end = info["data_offsets"]
            values = np.frombuffer(data[8 + n + begin:8 + n + end], dtype=np.float32).reshape(info["shape"])
            state[name] = torch.from_numpy(values.copy())
    net.load_state_dict(state)
    return net.eval()


def export(module, inputs, names, path):
    torch.onnx.export(module, tuple(torch.from_numpy(x) for x in inputs), path, input_names=names,
                      output_names=["y"], opset_version=17, dynamo=False)


def cases(tmp):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1, 64), dtype=np.float32), rng.standard_normal((1, 64), dtype=np.float32)
    export(Add(), [a, b], ["a", "b"], tmp / "add.onnx")
    yield "Add [1, 64] (1 node)", Add(), tmp / "add.onnx", {"a": a, "b": b}
    net = mlp_module()
    for batch in (1, 64):
        x = rng.standard_normal((batch, 16), dtype=np.float32)
        export(net, [x], ["x"], tmp / f"mlp{batch}.onnx")
        yield f"examples/mlp, batch {batch} (4 nodes)", net, tmp / f"mlp{batch}.onnx", {"x": x}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--iters", type=int, default=2000)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    print(f"threads {a.threads}; heed {heed.__version__}, onnxruntime {ort.__version__}, torch {torch.__version__}; "
          f"medians of {a.repeats} x {a.iters} calls, microseconds a call\n")
    print("| graph | heed C++ | heed from Python | added by Python | onnxruntime (Python) | PyTorch eager |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d, torch.no_grad():
        for name, module, onnx_path, inputs in cases(Path(d)):
            session = heed.Model(onnx_path, threads=a.threads).session()
            cpp = statistics.median(session._cpp_run_us(inputs, a.repeats, a.iters))
            py = median_us(lambda: session.run(inputs), a.repeats, a.iters)
            ort_session = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
            ort_us = median_us(lambda: ort_session.run(None, inputs), a.repeats, a.iters)
            tensors = [torch.from_numpy(x) for x in inputs.values()]
            torch_us = median_us(lambda: module(*tensors), a.repeats, a.iters)
            print(f"| {name} | {cpp:.2f} | {py:.2f} | {py - cpp:+.2f} | {ort_us:.2f} | {torch_us:.2f} |")


if __name__ == "__main__":
    main()

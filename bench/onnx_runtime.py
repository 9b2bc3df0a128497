#!/usr/bin/env python3
"""heed against onnxruntime on the same ONNX files, same threads, each in its
own process (load time, median run time, peak memory).

Models (random weights, transformers' / torch's own classes, exported with
torch.onnx.export at opset 17, static shapes):
  bert-base   BertModel, hidden 768, 12 layers, sequence 128, batch 1 and 8
  bert-base-dynamic  the same exported with dynamic batch and sequence axes (what optimum
              writes), run at the same shapes
  vit-b16     ViTModel, 224x224, patch 16, batch 1 and 8
  resnet50    torchvision's ResNet-50, 224x224 (BatchNorm folded by the exporter), batch 1 and 8
  gpt2-small  GPT2LMHeadModel, one full forward pass over 64 tokens (no past), batch 1 and 8
  gpt2-gen    GPT2LMHeadModel exported with past keys/values and dynamic axes: an 8-token
              prompt, then greedy decoding to 64 new tokens, each step's presents fed back
              (heed: bench/onnx_decode.cc; onnxruntime: the same loop in Python), batch 1 and 8

onnxruntime: CPUExecutionProvider, ORT_ENABLE_ALL graph optimizations,
intra_op_num_threads = --threads. heed: `heed run --repeat N --threads T`.
Peak memory is each run's own process (ru_maxrss is inherited across fork and
exec, so the models are exported by a separate process, not this one).

Each row runs each engine --rounds times (3), taking turns, each time in a fresh process:
on a machine whose speed drifts by tens of percent from one minute to the next, both
engines then see the same stretch of it. The speed-up is the median of the rounds' own
ratios, with their range in brackets.

--device cuda: heed on the GPU against PyTorch eager on the GPU (the same seeded modules, fp32
with TF32 off; inputs copied in and outputs out each run, as `heed run` does).

Run: python3 bench/onnx_runtime.py --heed build/heed --threads 2   (needs torch, transformers, onnxruntime)
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np


def export_decoder(path):
    """GPT-2 small, one step with past keys/values as flat inputs, dynamic batch/sequence/past."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    config = tf.GPT2Config()
    model = tf.GPT2LMHeadModel(config).eval()
    layers, heads, head_dim = config.n_layer, config.n_head, config.n_embd // config.n_head

    class Step(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, *past):
            cache = tf.DynamicCache()
            for i in range(layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            start, count = past[0].shape[2], input_ids.shape[1]
            positions = torch.arange(start, start + count)
            r = self.m(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache,
                       position_ids=positions[None].expand(input_ids.shape[0], -1), cache_position=positions,
                       use_cache=True)
            return (r.logits, *[t for layer in r.past_key_values.layers for t in (layer.keys, layer.values)])

    past_names = [f"past_{k}{i}" for i in range(layers) for k in "kv"]
    present_names = ["present_" + n[5:] for n in past_names]
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
           "logits": {0: "batch", 1: "seq"}}
    dyn.update({n: {0: "batch", 2: "past"} for n in past_names})
    dyn.update({n: {0: "batch", 2: "total"} for n in present_names})
    example = [torch.randint(0, 50257, (2, 2)), torch.ones(2, 5, dtype=torch.long)]
    example += [torch.randn(2, heads, 3, head_dim) for _ in past_names]
    step = Step(model).eval()
    torch.onnx.export(step, tuple(example), path, dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask", *past_names], output_names=["logits", *present_names],
                      dynamic_axes=dyn)


MODELS = ["bert-base", "bert-base-dynamic", "vit-b16", "resnet50", "gpt2-small", "gpt2-gen"]


def build(kind, batch):
    """The model (a module taking the inputs positionally), its inputs, their names, and the
    dynamic axes to export with. Seeded: every process builds the same weights."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if kind in ("bert-base", "bert-base-dynamic"):
        model = tf.BertModel(tf.BertConfig()).eval()
        ids = rng.integers(0, 30522, (batch, 128)).astype(np.int64)
        inputs, names, out = [ids, np.ones_like(ids)], ["input_ids", "attention_mask"], "last_hidden_state"
    elif kind == "resnet50":
        import torchvision

        model = torchvision.models.resnet50(weights=None).eval()
        inputs, names, out = [rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)], ["pixel_values"], None
    elif kind == "vit-b16":
        model = tf.ViTModel(tf.ViTConfig()).eval()
        inputs, names, out = [rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)], ["pixel_values"], "last_hidden_state"
    elif kind == "gpt2-small":
        model = tf.GPT2LMHeadModel(tf.GPT2Config()).eval()
        ids = rng.integers(0, 50257, (batch, 64)).astype(np.int64)
        inputs, names, out = [ids, np.ones_like(ids)], ["input_ids", "attention_mask"], "logits"
    else:
        sys.exit(f"unknown model '{kind}': one of {', '.join(MODELS)}")

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args):
            if out is None:  # a plain torch module (torchvision)
                return self.m(*args)
            kw = dict(zip(names, args))
            if kind == "gpt2-small":
                kw["use_cache"] = False
            return getattr(self.m(**kw), out)

    dynamic = {n: {0: "batch", 1: "sequence"} for n in names + ["y"]} if kind == "bert-base-dynamic" else None
    return Wrap(model).eval(), inputs, names, dynamic


def export(kind, batch, path):
    import torch

    if kind == "gpt2-gen":
        return export_decoder(path)
    module, inputs, names, dynamic = build(kind, batch)
    torch.onnx.export(module, tuple(torch.from_numpy(i) for i in inputs), path, dynamo=False, opset_version=17,
                      input_names=names, output_names=["y"], dynamic_axes=dynamic)
    from safetensors.numpy import save_file
    save_file(dict(zip(names, inputs)), path + ".inputs.safetensors")


def torch_run(kind, batch, repeats, device):
    """The peer on a GPU: the same seeded module in PyTorch eager (fp32, TF32 off), inputs
    copied in and outputs out each run, as `heed run` does; gpt2-gen decodes with its own
    KV cache (use_cache), the next token picked on the host each step, as heed's loop."""
    import resource

    import torch
    import transformers as tf

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    t = time.perf_counter()
    if kind == "gpt2-gen":
        torch.manual_seed(0)
        model = tf.GPT2LMHeadModel(tf.GPT2Config()).eval().to(device)
        import inspect  # transformers 5.2x names the KV cache argument `cache`, earlier ones `past_key_values`
        cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

        def once():
            ids = torch.full((batch, DECODE_PROMPT), 7, dtype=torch.long)
            mask = torch.ones(batch, DECODE_PROMPT, dtype=torch.long)
            past, total = None, 0
            for _ in range(DECODE_TOKENS):
                r = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=True, **{cache_arg: past})
                ids = r.logits[:, -1].cpu().argmax(-1)[:, None]
                total += int(ids.sum())
                past, mask = r[cache_arg], torch.ones(batch, mask.shape[1] + 1, dtype=torch.long)
            return total
    else:
        module, inputs, _, _ = build(kind, batch)
        module = module.to(device)

        def once():
            return module(*[torch.from_numpy(i).to(device) for i in inputs]).cpu()
    load = time.perf_counter() - t
    with torch.no_grad():
        once()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            once()
            times.append((time.perf_counter() - t) * 1e3)
    median = statistics.median(times)
    result = {"load_s": load, "median_ms": median, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if kind == "gpt2-gen":
        result["tokens_per_s"] = batch * DECODE_TOKENS / median * 1e3
    print(json.dumps(result))


def run_torch(kind, batch, repeats, device):
    out = subprocess.run([sys.executable, __file__, "--torch-run", kind, str(batch), str(repeats), device], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# An onnxruntime session on `path` with `threads`, all graph optimizations; `load` its seconds.
ORT_SESSION = r"""
o = ort.SessionOptions()
o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
t = time.perf_counter()
s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
load = time.perf_counter() - t
"""

ORT_SCRIPT = r"""
import json, resource, statistics, sys, time
import numpy as np, onnxruntime as ort
from safetensors.numpy import load_file
path, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
""" + ORT_SESSION + r"""
feed = load_file(path + ".inputs.safetensors")
s.run(None, feed)
times = []
for _ in range(repeats):
    t = time.perf_counter(); s.run(None, feed); times.append((time.perf_counter() - t) * 1e3)
print(json.dumps({"load_s": load, "median_ms": statistics.median(times),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


ORT_DECODE_SCRIPT = r"""
import json, resource, statistics, sys, time
import numpy as np, onnxruntime as ort
path, threads, repeats, batch, prompt, tokens = sys.argv[1], *map(int, sys.argv[2:])
""" + ORT_SESSION + r"""
names = [x.name for x in s.get_outputs()]
def generate():
    feed = {"input_ids": np.full((batch, prompt), 7, np.int64), "attention_mask": np.ones((batch, prompt), np.int64)}
    for i in s.get_inputs():
        if i.name.startswith("past_"):
            feed[i.name] = np.zeros((batch, i.shape[1], 0, i.shape[3]), np.float32)
    total = 0
    for _ in range(tokens):
        out = dict(zip(names, s.run(None, feed)))
        nxt = out["logits"][:, -1].argmax(-1)
        total += int(nxt.sum())
        feed["input_ids"] = nxt[:, None].astype(np.int64)
        feed["attention_mask"] = np.ones((batch, feed["attention_mask"].shape[1] + 1), np.int64)
        for k in feed:
            if k.startswith("past_"):
                feed[k] = out["present_" + k[5:]]
    return total
check = generate()
times = []
for _ in range(repeats):
    t = time.perf_counter(); assert generate() == check; times.append((time.perf_counter() - t) * 1e3)
median = statistics.median(times)
print(json.dumps({"load_s": load, "median_ms": median, "tokens_per_s": batch * tokens / median * 1e3,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

DECODE_PROMPT, DECODE_TOKENS = 8, 64


def run_ort_decode(path, threads, repeats, batch):
    args = [path, threads, repeats, batch, DECODE_PROMPT, DECODE_TOKENS]
    out = subprocess.run([sys.executable, "-c", ORT_DECODE_SCRIPT, *map(str, args)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_heed_decode(heed, path, threads, repeats, batch, device="cpu"):
    bench = os.path.join(os.path.dirname(heed), "bench", "heed_bench_onnx_decode")
    if not os.path.exists(bench):  # bench/gpu.sh packs it beside the tool
        bench = os.path.join(os.path.dirname(heed), "heed_bench_onnx_decode")
    r = subprocess.run(["/usr/bin/time", "-f", "peak_kb %M", bench, path, "--batch", str(batch), "--prompt",
                        str(DECODE_PROMPT), "--tokens", str(DECODE_TOKENS), "--threads", str(threads), "--repeats",
                        str(repeats), "--device", device], check=True, capture_output=True, text=True)
    result = json.loads(r.stdout.strip().splitlines()[-1])
    result["peak_mb"] = int(re.search(r"peak_kb (\d+)", r.stderr).group(1)) / 1024
    return result


def run_ort(path, threads, repeats):
    out = subprocess.run([sys.executable, "-c", ORT_SCRIPT, path, str(threads), str(repeats)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_heed(heed, path, threads, repeats, device="cpu"):
    t = time.perf_counter()
    subprocess.run([heed, "inspect", path], check=True, capture_output=True)
    load = time.perf_counter() - t
    r = subprocess.run(["/usr/bin/time", "-f", "peak_kb %M", heed, "run", path, "--inputs", path + ".inputs.safetensors",
                        "--repeat", str(repeats), "--threads", str(threads), "--device", device], check=True,
                       capture_output=True, text=True)
    text = r.stdout + r.stderr
    median = float(re.search(r"median ([0-9.]+) ms", text).group(1))
    peak = int(re.search(r"peak_kb (\d+)", text).group(1)) / 1024
    return {"load_s": load, "median_ms": median, "peak_mb": peak}


def alternated(rounds, run_ort_once, run_heed_once):
    """Each engine `rounds` times, taking turns, so that both see the same stretch of a noisy
    machine: medians of each engine's per-process medians (loads, tokens/s too), the largest
    peak, and the speed-up as the median of the rounds' own ratios with their range."""
    pairs = [(run_ort_once(), run_heed_once()) for _ in range(rounds)]
    def merged(results):
        out = {k: statistics.median(r[k] for r in results) for k in results[0] if k != "peak_mb"}
        out["peak_mb"] = max(r["peak_mb"] for r in results)
        return out
    ratios = sorted(o["median_ms"] / h["median_ms"] for o, h in pairs)
    speedup = f"{statistics.median(ratios):.2f}x" + (f" ({ratios[0]:.2f}-{ratios[-1]:.2f})" if rounds > 1 else "")
    return merged([o for o, _ in pairs]), merged([h for _, h in pairs]), speedup


def decode_row(a, batch):
    path = os.path.join(a.dir, "gpt2-gen.onnx")
    if not os.path.exists(path):
        subprocess.run([sys.executable, __file__, "--export", "gpt2-gen", "1", path], check=True)
    peer = (lambda: run_torch("gpt2-gen", batch, a.repeats, a.device)) if a.device != "cpu" else \
        (lambda: run_ort_decode(path, a.threads, a.repeats, batch))
    o, h, speedup = alternated(a.rounds, peer, lambda: run_heed_decode(a.heed, path, a.threads, a.repeats, batch, a.device))
    print(f"| gpt2-gen ({DECODE_TOKENS} tokens, tok/s {a.peer_name} / heed: {o['tokens_per_s']:.0f} / {h['tokens_per_s']:.0f}; "
          f"heed's first generation {h['first_ms']:.0f} ms) "
          f"| {batch} | {o['median_ms']:.1f} | {h['median_ms']:.1f} | {speedup} "
          f"| {o['load_s']:.2f} / {h['load_s']:.2f} | {o['peak_mb']:.0f} / {h['peak_mb']:.0f} |", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--heed", default="build/heed")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--dir", default="/tmp/heed-onnx-bench")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated, of: " + ", ".join(MODELS))
    p.add_argument("--batches", default="1,8")
    p.add_argument("--rounds", type=int, default=3,
                   help="processes per engine and row, taking turns (the speed-up: median of the rounds' ratios, and their range)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: heed on the GPU against PyTorch eager on the GPU (onnxruntime's CPU provider is no GPU peer)")
    p.add_argument("--export", nargs=3, metavar=("MODEL", "BATCH", "PATH"), help=argparse.SUPPRESS)
    p.add_argument("--torch-run", nargs=4, metavar=("MODEL", "BATCH", "REPEATS", "DEVICE"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.export:
        return export(a.export[0], int(a.export[1]), a.export[2])
    if a.torch_run:
        return torch_run(a.torch_run[0], int(a.torch_run[1]), int(a.torch_run[2]), a.torch_run[3])
    a.peer_name = "onnxruntime" if a.device == "cpu" else "PyTorch CUDA"
    if unknown := [m for m in a.models.split(",") if m not in MODELS]:
        p.error(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(MODELS)}")
    os.makedirs(a.dir, exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    where = cpu if a.device == "cpu" else subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    print(f"{a.device.upper()}: {where}; threads {a.threads}; median of {a.repeats} runs after one warm-up, "
          f"{a.rounds} processes per engine taking turns\n")
    print(f"| model | batch | {a.peer_name} ms | heed ms | heed speed-up | load s (peer / heed) | peak host MB (peer / heed) |")
    print("|---|---|---|---|---|---|---|")
    for kind in a.models.split(","):
        for batch in map(int, a.batches.split(",")):
            if kind == "gpt2-gen":
                decode_row(a, batch)
                continue
            path = os.path.join(a.dir, f"{kind}-b{batch}.onnx")
            if not os.path.exists(path + ".inputs.safetensors"):  # in a process of its own: this one stays small,
                subprocess.run([sys.executable, __file__, "--export", kind, str(batch), path], check=True)  # as peaks inherit
            peer = (lambda: run_torch(kind, batch, a.repeats, a.device)) if a.device != "cpu" else \
                (lambda: run_ort(path, a.threads, a.repeats))
            o, h, speedup = alternated(a.rounds, peer, lambda: run_heed(a.heed, path, a.threads, a.repeats, a.device))
            print(f"| {kind} | {batch} | {o['median_ms']:.1f} | {h['median_ms']:.1f} | {speedup} "
                  f"| {o['load_s']:.2f} / {h['load_s']:.2f} | {o['peak_mb']:.0f} / {h['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Captioning and VQA throughput (issue 7): heed against the same PyTorch modules
in eager mode, same thread count, same random weights.

  caption  Show, Attend and Tell with the tutorial's sizes: ResNet-101 encoder,
           256x256 pictures pooled to 14x14, attention/embedding/decoder 512,
           vocabulary 10,000. Every caption is exactly --words words (the <end>
           logit is held at -100 in both), so both engines do the same work.
           Timed warm, from PNG files to captions (decoding and transforms
           included): heed::Captioner (build/bench/heed_bench_caption) against an
           incremental PyTorch loop over decoder.step (greedy, or beam search
           keeping each row's LSTM state), as heed's.
  vqa      pytorch-vqa's Net with its sizes (question 1024, glimpses 2, mid 512,
           classifier 1024, 3,000 answers, 15,000 question tokens) on ResNet-152-sized
           features [2048, 14, 14] given directly; heed runs the `answer` graph
           (`heed run --repeat`), PyTorch Net.forward; 10-word questions.

Each figure is the median of --repeats runs (after a warm-up).

  python3 bench/vision.py --heed build/heed --threads 2 [--repeats 3]
  python3 bench/vision.py --only encoder --precision bf16   # heed bf16 against PyTorch autocast bf16
  python3 bench/vision.py --only encoder --precision int8   # heed int8 (dynamic, and calibrated) against PyTorch fx int8 (static)

--device cuda runs both sides on the GPU (issue 6): heed with --device cuda,
PyTorch's modules and tensors moved there (CUDA eager, fp32, TF32 off as in
heed), synchronized before each time is read.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "python"))
import pytorch_vqa  # noqa: E402
import show_attend_tell as sat  # noqa: E402

CAP_DIR, VQA_DIR, PICS = "/tmp/heed_bench_caption", "/tmp/heed_bench_vqa", "/tmp/heed_bench_pictures"
VOCAB = 10000
DEVICE = "cpu"  # --device
PRECISION = "f32"  # --precision


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def build_caption_model():
    wm = {f"w{i}": i + 1 for i in range(VOCAB - 4)}
    for s in ("<unk>", "<start>", "<end>"):
        wm[s] = len(wm) + 1
    wm["<pad>"] = 0
    torch.manual_seed(0)
    model = sat.CaptionModel(sat.make_config(vocab_size=VOCAB, max_caption_length=100)).eval()
    with torch.no_grad():
        model.decoder.fc.bias[wm["<end>"]] = -100.0  # never ends: every caption is max_new_tokens long
    if not os.path.exists(os.path.join(CAP_DIR, "model.safetensors")):
        sat.save(model, CAP_DIR, wm)
    return model, wm


def build_vqa_model():
    torch.manual_seed(0)
    vocab = {"question": {f"q{i}": i + 1 for i in range(14999)}, "answer": {f"a{i}": i for i in range(3000)}}
    model = pytorch_vqa.Net(pytorch_vqa.make_config(embedding_tokens=15000, max_answers=3000), with_trunk=False).eval()
    if not os.path.exists(os.path.join(VQA_DIR, "model.safetensors")):
        pytorch_vqa.save(model, VQA_DIR, vocab)
    return model


def pictures(n):
    from PIL import Image
    os.makedirs(PICS, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    paths = []
    for i in range(n):
        p = os.path.join(PICS, f"{i}.png")
        if not os.path.exists(p):
            small = torch.randint(0, 256, (3, 16, 16), generator=g, dtype=torch.uint8)
            img = torch.nn.functional.interpolate(small[None].float(), size=(300, 400), mode="bilinear")[0]
            Image.fromarray(img.clamp(0, 255).byte().permute(1, 2, 0).numpy()).save(p)
        paths.append(p)
    return paths


def torch_captions(model, wm, paths, batch, beam, words):
    """Incremental search over decoder.step, in eager PyTorch."""
    image_cfg = model.config["image"]
    dec = model.decoder
    for at in range(0, len(paths), batch):
        images = torch.stack([sat.image_tensor(p, image_cfg) for p in paths[at:at + batch]]).to(DEVICE)
        B = images.size(0)
        enc = model.encode(images).repeat_interleave(beam, 0)
        h, c = dec.init_hidden_state(enc)
        tokens = torch.full((B * beam,), wm["<start>"], dtype=torch.long, device=DEVICE)
        scores = torch.zeros(B, beam, device=DEVICE)
        scores[:, 1:] = -1e9
        for _ in range(words):
            logits, h, c, _ = dec.step(enc, tokens, h, c)
            lp = torch.log_softmax(logits, -1)
            if beam == 1:
                tokens = lp.argmax(-1)
                continue
            total = (lp + scores.view(-1, 1)).view(B, -1)
            scores, idx = total.topk(beam, -1)
            rows = (idx // VOCAB + torch.arange(B, device=DEVICE).view(-1, 1) * beam).view(-1)
            tokens = (idx % VOCAB).view(-1)
            h, c = h.index_select(0, rows), c.index_select(0, rows)


def median_s(fn, repeats):
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def heed_captions_s(bench_bin, paths, batch, beam, words, threads, repeats, model_dir=CAP_DIR):
    """heed::Captioner, warm, from files to captions (build/bench/heed_bench_caption), median of runs."""
    r = subprocess.run([bench_bin, model_dir, *paths, "--batch", str(batch), "--beam", str(beam), "--words", str(words),
                        "--threads", str(threads), "--repeats", str(repeats), "--device", DEVICE,
                        "--precision", PRECISION],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])["seconds"]


def vqa_inputs(batch):
    g = torch.Generator().manual_seed(2)
    return {"features": torch.rand(batch, 2048, 14, 14, generator=g),
            "question": torch.randint(1, 15000, (batch, 10), generator=g),
            "question_lengths": torch.full((batch,), 10, dtype=torch.long)}


def heed_vqa_ms(heed, batch, threads, repeats):
    from safetensors.torch import save_file
    path = f"/tmp/heed_bench_vqa_in{batch}.safetensors"
    save_file(vqa_inputs(batch), path)
    r = subprocess.run([heed, "run", VQA_DIR, "--graph", "answer", "--inputs", path, "--repeat", str(max(5, repeats * 3)),
                        "--threads", str(threads), "--device", DEVICE, "--precision", PRECISION],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    return float(re.search(r"median ([0-9.]+) ms", r.stdout + r.stderr).group(1))


def torch_int8_dynamic(module):
    """PyTorch's dynamic int8 for Linear (per-channel weights) and LSTM/LSTMCell."""
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic
    spec = {torch.nn.Linear: per_channel_dynamic_qconfig, torch.nn.LSTM: default_dynamic_qconfig,
            torch.nn.LSTMCell: default_dynamic_qconfig}
    return quantize_dynamic(module, spec)


def torch_timed(fn):
    """fn under PyTorch's counterpart of --precision bf16 (autocast); as is otherwise."""
    def run():
        with torch.no_grad(), torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=PRECISION == "bf16"):
            return fn()
    return run


def int8_fx(module, x):
    """PyTorch's int8 for a CNN: fx static quantization (the x86 backend's default
    qconfig: per-tensor affine u8 activations, calibrated here on the benchmark's
    own batch; per-channel s8 weights). heed's int8 is dynamic by default, static
    once `heed quantize --calibrate` has measured the same batch."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    prepared = prepare_fx(module.eval(), get_default_qconfig_mapping("x86"), (x,))
    with torch.no_grad():
        prepared(x)
    return convert_fx(prepared)


def calibrated_caption_model(heed, images):
    """`heed quantize --calibrate` of the caption model's encoder on `images` (what
    PyTorch's fx int8 calibrates on): heed's static int8 counterpart."""
    from safetensors.torch import save_file
    path, out = "/tmp/heed_bench_caption_calibration.safetensors", CAP_DIR + "_int8_calibrated"
    save_file({"image": images.contiguous()}, path)
    subprocess.run([heed, "quantize", CAP_DIR, "-o", out, "--precision", "int8", "--calibrate", path, "--graph",
                    "encoder"], check=True, capture_output=True)
    return out, path


def encoder_only(args):
    """ResNet-101 trunk + pool + init of the caption model, batch 8: seconds and GFLOP/s on both sides."""
    from safetensors.torch import save_file
    model, _ = build_caption_model()
    x = torch.randn(8, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    path = "/tmp/heed_bench_caption_images8.safetensors"
    save_file({"image": x}, path)
    model, x = model.to(DEVICE), x.to(DEVICE)
    bf16 = args.precision == "bf16"  # PyTorch: autocast, its own bf16 convolutions
    encoder = int8_fx(model.encoder, x) if args.precision == "int8" else model.encoder
    with torch.no_grad(), torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=bf16):
        t_torch = median_s(lambda: encoder(x), args.repeats)
    rows = [("", CAP_DIR)]
    if args.precision == "int8":  # heed's dynamic int8, and its static int8 calibrated on the batch PyTorch's was
        rows = [(" dynamic", CAP_DIR), (" calibrated", calibrated_caption_model(args.heed, x.cpu())[0])]
    gflop = 2 * 8 * 10.2  # ResNet-101 at 256x256: about 10.2 G multiply-adds a picture
    for label, model_dir in rows:
        r = subprocess.run([args.heed, "run", model_dir, "--graph", "encoder", "--inputs", path, "--repeat",
                            str(args.repeats + 1), "--threads", str(args.threads), "--device", DEVICE, "--precision",
                            args.precision], capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(r.stderr)
        t_heed = float(re.search(r"median ([0-9.]+) ms", r.stdout + r.stderr).group(1)) / 1e3
        print(f"encoder, batch 8, {args.precision}{label}: heed {t_heed:.3f} s ({gflop / t_heed:.0f} GFLOP/s), "
              f"PyTorch {t_torch:.3f} s ({gflop / t_torch:.0f} GFLOP/s), {t_torch / t_heed:.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heed", default="build/heed")
    ap.add_argument("--caption-bench", default="build/bench/heed_bench_caption")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--words", type=int, default=20)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--only", choices=["caption", "vqa", "encoder"], default=None,
                    help="encoder: the captioning encoder alone on 8 random 256x256 pictures (heed: `heed run --graph encoder`)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--precision", choices=["f32", "bf16", "int8"], default="f32",
                    help="heed --precision; PyTorch: bf16 under torch.autocast, int8 its own quantization "
                         "(fx static for the CNN encoder, quantize_dynamic for Linear and LSTM)")
    args = ap.parse_args()
    global DEVICE, PRECISION
    DEVICE, PRECISION = args.device, args.precision
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(args.threads)
    rows = []
    if args.only == "encoder":
        return encoder_only(args)
    if args.only != "vqa":
        model, wm = build_caption_model()
        model = model.to(DEVICE)
        paths = pictures(args.images)
        heed_dir = CAP_DIR
        if PRECISION == "int8":  # both calibrate their CNN on the pictures; the decoders stay dynamic
            sample = torch.stack([sat.image_tensor(p, model.config["image"]) for p in paths])
            heed_dir = calibrated_caption_model(args.heed, sample)[0]
            model.encoder = int8_fx(model.encoder, sample)
            model.decoder = torch_int8_dynamic(model.decoder)
        for batch, beam in ((1, 1), (8, 1), (1, 3), (8, 3)):
            t_torch = median_s(torch_timed(lambda: torch_captions(model, wm, paths, batch, beam, args.words)), args.repeats)
            t_heed = heed_captions_s(args.caption_bench, paths, batch, beam, args.words, args.threads, args.repeats,
                                     heed_dir)
            n = len(paths)
            rows.append(("caption", f"batch {batch}, {'greedy' if beam == 1 else f'beam {beam}'}", n / t_heed, n / t_torch))
            print(f"caption batch {batch} beam {beam}: heed {n / t_heed:.2f} images/s, PyTorch {n / t_torch:.2f} "
                  f"({t_torch / t_heed:.2f}x)", flush=True)
    if args.only != "caption":
        model = build_vqa_model().to(DEVICE)
        if PRECISION == "int8":
            model = torch_int8_dynamic(model)
        for batch in (1, 32):
            # On the host: both sides copy the inputs in and the answers out each run, as `heed run`
            # does (on a GPU, batch 32's features are 51 MB a run).
            x = vqa_inputs(batch)

            def answer():
                out = model(*(x[k].to(DEVICE) for k in ("features", "question", "question_lengths")))
                return [t.cpu() for t in (out if isinstance(out, tuple) else (out,))]
            t_torch = median_s(torch_timed(answer), max(5, args.repeats * 3))
            t_heed = heed_vqa_ms(args.heed, batch, args.threads, args.repeats) / 1e3
            rows.append(("vqa", f"batch {batch}", batch / t_heed, batch / t_torch))
            print(f"vqa batch {batch}: heed {batch / t_heed:.1f} questions/s, PyTorch {batch / t_torch:.1f} "
                  f"({t_torch / t_heed:.2f}x)", flush=True)
    peer = {"f32": "PyTorch eager", "bf16": "PyTorch autocast bf16", "int8": "PyTorch int8"}[PRECISION]
    print(f"\n{PRECISION}\n\n| task | setting | heed /s | {peer} /s | heed / PyTorch |\n|---|---|---:|---:|---:|")
    for task, setting, h, t in rows:
        print(f"| {task} | {setting} | {h:.2f} | {t:.2f} | {h / t:.2f}x |")
    print(json.dumps({"threads": args.threads, "words": args.words, "images": args.images, "device": DEVICE,
                      "precision": PRECISION}))


if __name__ == "__main__":
    main()

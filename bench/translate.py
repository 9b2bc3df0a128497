#!/usr/bin/env python3
"""Translation throughput at opus-mt's size (issue 5): heed against transformers
(PyTorch eager) and CTranslate2, same threads, same random-weight Marian
model (d_model 512, 6+6 layers, 8 heads, FFN 2048, vocab 58,101), same inputs:
500 made-up sentences of 10..60 tokens. Every engine generates exactly
--target-len tokens per sentence (min = max length), so all do the same work.
Each engine runs in its own process; peak memory is that process's max RSS.

  python3 bench/translate.py --heed build/heed --threads 2 [--sentences 500]

On a GPU (issue 6): --device cuda runs all three there (transformers: PyTorch
CUDA eager; CTranslate2: device "cuda"), --precision fp16 makes every engine
compute its GEMMs in half precision (heed: --gemm-dtype f16; transformers: the
model in float16; CTranslate2: compute_type float16). Peak memory is then the
GPU's too: the most device memory nvidia-smi saw held by the engine's process
(sampled every 0.2 s; CUDA context and cached allocator blocks included, as
each engine keeps them), beside the host RSS.

  python3 bench/translate.py --heed build/heed --device cuda --precision fp16

heedpy runs heed's Python module in the child process (heed.Generator on the
token ids, PYTHONPATH=build/python), as CTranslate2's Python API runs; heedpy-int8
with precision int8 (issue 18).

On the CPU in bf16 and int8 (issue 17): engines heed-int8 and heed-bf16 run heed
with --precision; heed-int8file and heed-bf16file run the model as `heed
quantize` stores it; ctranslate2-int8 (or any other compute_type after the dash)
runs CTranslate2 so.

  python3 bench/translate.py --heed build/heed --threads 2 --engines heed,heed-int8,heed-bf16,ctranslate2,ctranslate2-int8

--rounds N runs every engine N times per row, the engines taking turns, and
prints the median tokens/s with its range and the median of the per-round
speed-ups against --versus (e.g. --versus ctranslate2-int8).

--limits build/bench adds each row's physical limit in its precision (the
bytes and operations of its decode steps against this machine's measured read
bandwidth and peak: bench/decode_limits.py) and the share of it reached.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

MODEL_DIR = "/tmp/heed_bench_opus"
CT2_DIR = "/tmp/heed_bench_opus_ct2"
VOCAB = 58101


def build_model(spm_from):
    """A random-weight opus-mt-sized MarianMTModel saved as save_pretrained writes it,
    with a vocab.json of made-up pieces (the benchmark feeds token ids)."""
    if os.path.exists(os.path.join(MODEL_DIR, "model.safetensors")):
        return
    import shutil

    import torch
    from transformers import MarianConfig, MarianMTModel
    torch.manual_seed(0)
    cfg = MarianConfig(vocab_size=VOCAB, decoder_vocab_size=VOCAB, d_model=512, encoder_layers=6, decoder_layers=6,
                       encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,
                       decoder_ffn_dim=2048, max_position_embeddings=512, pad_token_id=VOCAB - 1, eos_token_id=0,
                       decoder_start_token_id=VOCAB - 1, forced_eos_token_id=0, scale_embedding=True)
    MarianMTModel(cfg).eval().save_pretrained(MODEL_DIR)
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(2, VOCAB - 1):
        vocab[f"\u2581w{i}"] = i
    vocab["<pad>"] = VOCAB - 1
    with open(os.path.join(MODEL_DIR, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    for side in ("source", "target"):
        shutil.copy(os.path.join(spm_from, f"{side}.spm"), os.path.join(MODEL_DIR, f"{side}.spm"))


def convert_ct2():
    if os.path.exists(os.path.join(CT2_DIR, "model.bin")):
        return
    import ctranslate2
    ctranslate2.converters.TransformersConverter(MODEL_DIR).convert(CT2_DIR, quantization="float32", force=True)


def sentences(n):
    rng = random.Random(7)
    return [[rng.randint(2, VOCAB - 2) for _ in range(rng.randint(10, 60))] + [0] for _ in range(n)]


def engine_main():
    """Child mode: python3 translate.py --child ENGINE INPUT BEAM BATCH TARGET_LEN THREADS DEVICE PRECISION"""
    _, _, engine, path, beam, batch, target, threads, device, precision = sys.argv
    beam, batch, target, threads = int(beam), int(batch), int(target), int(threads)
    with open(path) as f:
        src = [[int(x) for x in line.split()] for line in f]
    t = time.perf_counter()
    tokens = 0
    if engine == "heedpy":  # heed's Python module (issue 18), in this process like CTranslate2's
        import heed
        model = heed.Model(MODEL_DIR, threads=threads, precision=None if precision in ("fp32", "") else precision)
        generator = heed.Generator(model, threads=threads)
        t = time.perf_counter()
        results = generator.generate_batch(src, beam_size=beam, min_length=target, max_length=target,
                                           max_batch_size=batch)
        tokens = sum(len(r.sequences_ids[0]) for r in results)
    elif engine == "transformers":
        import torch
        from transformers import MarianMTModel
        torch.set_num_threads(threads)
        model = MarianMTModel.from_pretrained(MODEL_DIR).eval().to(device)
        if precision == "fp16":
            model = model.half()
        t = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(src), batch):
                chunk = src[i:i + batch]
                n = max(len(s) for s in chunk)
                ids = torch.full((len(chunk), n), VOCAB - 1, dtype=torch.long)
                mask = torch.zeros(len(chunk), n, dtype=torch.long)
                for b, s in enumerate(chunk):
                    ids[b, :len(s)] = torch.tensor(s)
                    mask[b, :len(s)] = 1
                out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), num_beams=beam, do_sample=False,
                                     min_new_tokens=target, max_new_tokens=target)
                tokens += int((out[:, 1:] != VOCAB - 1).sum())
        if device == "cuda":
            torch.cuda.synchronize()
    else:
        import ctranslate2
        compute_type = {"fp16": "float16", "fp32": "float32"}.get(precision, precision)  # else int8, int8_float32, ...
        tr = ctranslate2.Translator(CT2_DIR, device=device, inter_threads=1, intra_threads=threads,
                                    compute_type=compute_type)
        with open(os.path.join(MODEL_DIR, "vocab.json")) as f:
            piece = {v: k for k, v in json.load(f).items()}
        toks = [[piece[i] for i in s] for s in src]
        t = time.perf_counter()
        for i in range(0, len(toks), batch):
            # CTranslate2's lengths leave out the EOS that the others count
            res = tr.translate_batch(toks[i:i + batch], beam_size=beam, min_decoding_length=target - 1,
                                     max_decoding_length=target - 1, max_batch_size=batch)
            tokens += sum(len(r.hypotheses[0]) + 1 for r in res)  # + the EOS CTranslate2 leaves out
    elapsed = time.perf_counter() - t
    print(json.dumps({"seconds": elapsed, "tokens": tokens}))


def gpu_name():
    out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "a CUDA GPU"


def gpu_used_mib():
    """Device memory held by compute processes now, as nvidia-smi reports it."""
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=used_memory", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True).stdout
    return sum(float(m) for m in out.split())


def measured(args, device="cpu"):
    """Runs a command under GNU time; returns (stdout, stderr, peak RSS in MiB, peak GPU MiB or None)."""
    import threading
    gpu_peak, done = [0.0], threading.Event()

    def poll():
        while not done.wait(0.2):
            gpu_peak[0] = max(gpu_peak[0], gpu_used_mib())

    poller = threading.Thread(target=poll, daemon=True)
    if device == "cuda":
        poller.start()
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *args], capture_output=True, text=True)
        done.set()
        if p.returncode != 0:
            raise RuntimeError(p.stderr[-3000:])
        rss_mib = int(open(rss.name).read().split()[-1]) / 1024
    return p.stdout, p.stderr, rss_mib, (gpu_peak[0] if device == "cuda" else None)


def quantized_model(heed, precision):
    """MODEL_DIR as `heed quantize` stores it in `precision` (made once)."""
    out = f"{MODEL_DIR}_heed_{precision}"
    if not os.path.exists(os.path.join(out, "heed.safetensors")):
        subprocess.run([heed, "quantize", MODEL_DIR, "-o", out, "--precision", precision], check=True)
    return out


def heed_run(heed, path, beam, batch, target, threads, device, precision, cpu_precision=""):
    gpu = ["--device", "cuda", "--gemm-dtype", "f16" if precision == "fp16" else "f32"] if device == "cuda" else []
    model = MODEL_DIR
    if cpu_precision.endswith("file"):  # heed-int8file: the model quantized by `heed quantize`, run as stored
        model = quantized_model(heed, cpu_precision[:-len("file")])
    elif cpu_precision:
        gpu += ["--precision", cpu_precision]
    _, err, peak, gpu_mib = measured([heed, "translate", model, "--ids", "--input", path, "--beam", str(beam),
                             "--batch-size", str(batch), "--min-length", str(target), "--max-length", str(target),
                             "--threads", str(threads), *gpu], device)
    # heed prints its own timing of the translation loop (model load excluded), as the others do
    line = [l for l in err.splitlines() if l.startswith("translated")][-1]
    # "translated N lines: T target tokens in S s, R tokens/s": the rate has more digits than the seconds
    tokens, rate = int(line.split(": ")[1].split()[0]), float(line.split(", ")[-1].split()[0])
    seconds = tokens / rate
    return {"seconds": seconds, "tokens": tokens, "peak_mib": peak, "gpu_mib": gpu_mib}


def run_engine(a, engine, path, beam, batch):
    name, _, variant = engine.partition("-")
    if name == "heed":
        return heed_run(a.heed, path, beam, batch, a.target_len, a.threads, a.device, a.precision, variant)
    out, _, peak, gpu_mib = measured([sys.executable, __file__, "--child", name, path, str(beam), str(batch),
                                      str(a.target_len), str(a.threads), a.device, variant or a.precision], a.device)
    return dict(json.loads(out.strip().splitlines()[-1]), peak_mib=peak, gpu_mib=gpu_mib)


def row_cells(runs, engine, versus, gpu_col, limit=None):
    """tokens/s (median, and the range over rounds), the median of the rounds' ratios to `versus`, peak MiB;
    `limit`: the row's physical limit in tokens/s (bench/decode_limits.py), and the share of it reached."""
    def tps(r):
        return r["tokens"] / r["seconds"]
    mine = [tps(r) for r in runs[engine]]
    speed = f"{statistics.median(mine):.1f}" + (f" ({min(mine):.1f}-{max(mine):.1f})" if len(mine) > 1 else "")
    rel = "-"
    if versus in runs:
        ratios = [tps(r) / tps(b) for r, b in zip(runs[engine], runs[versus])]
        rel = f"{statistics.median(ratios):.2f}x" + (f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else "")
    peak = max(r["peak_mib"] for r in runs[engine])
    gpu = ""
    if gpu_col:
        gpu_mib = max(r.get("gpu_mib") or 0 for r in runs[engine])
        gpu = f" {gpu_mib:.0f} |" if gpu_mib else " - |"
    bound = f" {limit:.0f} | {100 * statistics.median(mine) / limit:.0f}% |" if limit else ""
    return f"{speed} | {rel} | {peak:.0f} |{gpu}{bound}"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return engine_main()
    p = argparse.ArgumentParser()
    p.add_argument("--heed", default="build/heed")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--sentences", type=int, default=500)
    p.add_argument("--target-len", type=int, default=40)
    p.add_argument("--configs", default="1x1,1x32,4x1,4x32", help="beam x batch, comma-separated")
    p.add_argument("--engines", default="heed,ctranslate2,transformers",
                   help="also heed-int8, heed-bf16 (--precision), heed-int8file, heed-bf16file (the model as "
                        "`heed quantize` stores it) and ctranslate2-<compute_type> (int8, int8_float32, ...)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    p.add_argument("--rounds", type=int, default=1,
                   help="runs per engine, taking turns (engine A, B, .., A, B, ..): median tokens/s and range")
    p.add_argument("--versus", default="transformers", help="the engine each row's speed-up is against")
    p.add_argument("--limits", metavar="BENCH_DIR",
                   help="add each row's physical limit (bench/decode_limits.py), measured with BENCH_DIR's "
                        "heed_bench_fma_peak and heed_bench_bandwidth (e.g. build/bench)")
    a = p.parse_args()
    if a.precision == "fp16" and a.device != "cuda":
        p.error("--precision fp16 needs --device cuda (heed's CPU kernels compute in fp32)")
    if a.limits and a.device != "cpu":
        p.error("--limits is for the CPU")
    here = os.path.dirname(os.path.abspath(__file__))
    build_model(os.path.join(here, "..", "examples", "dates-marian"))
    if "ctranslate2" in a.engines:
        convert_ct2()
    src = sentences(a.sentences)
    fd, path = tempfile.mkstemp(suffix=".ids")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(" ".join(map(str, s)) for s in src) + "\n")
    where = f"{a.threads} threads" if a.device == "cpu" else gpu_name()
    print(f"{a.sentences} sentences of 10..60 tokens, {a.target_len} target tokens each, {where}, {a.precision}\n")
    limits = None
    if a.limits:
        import decode_limits
        limits = decode_limits.machine(a.limits, a.threads)
        bw = ", ".join(f"{mib} MiB {gbps:.0f}" for mib, gbps in limits["bandwidth"])
        print(f"limits: peaks GFLOP/s fp32 {limits['fp32']:.0f}, bf16 {limits['bf16']:.0f}, int8 {limits['int8']:.0f}; "
              f"read GB/s {bw} {'; '.join(limits['notes'])}\n")
    source_len = statistics.mean(len(s) for s in src)
    gpu_col = " | peak GPU MiB" if a.device == "cuda" else ""
    limit_col = " limit tokens/s | of limit |" if limits else ""
    print(f"| beam | batch | engine | target tokens/s | vs {a.versus} | peak MiB{gpu_col} |{limit_col}")
    print("|---:|---:|---|---:|---:|---:|" + ("---:|" if gpu_col else "") + ("---:|---:|" if limits else ""))
    engines = a.engines.split(",")
    for cfg in a.configs.split(","):
        beam, batch = map(int, cfg.split("x"))
        runs = {engine: [] for engine in engines}
        for _ in range(a.rounds):  # the engines take turns, so that a drift of the machine's speed hits each alike
            for engine in engines:
                runs[engine].append(run_engine(a, engine, path, beam, batch))
        for engine in engines:
            limit = limits and decode_limits.tokens_per_second(limits, decode_limits.engine_precision(engine), beam,
                                                               batch, source_len, a.target_len)
            print(f"| {beam} | {batch} | {engine} | {row_cells(runs, engine, a.versus, gpu_col, limit)}", flush=True)
    os.remove(path)


if __name__ == "__main__":
    main()

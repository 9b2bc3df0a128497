"""The physical limit of a translation benchmark row (issue 17): how many target
tokens a second no engine can exceed on this machine with the opus-mt-sized
Marian of bench/translate.py, from the bytes each decode step must read and the
operations it must do, against the machine's measured read bandwidth and peak.

Per batch of B sentences (beam k, R = B k rows, S source tokens on average,
T target tokens):
  encoder     2 B S (6 layers x (4 E^2 + 2 E F)) + the cross-attention keys
              and values (2 B S 6 x 2 E^2) + attention (4 B S^2 E x 6): at the
              peak of the precision (its weights are read once)
  each step t the decoder's weights (6 x (6 E^2 + 2 E F) + V E: self-attention,
              the cross-attention's query and output, the feed-forward, the
              vocabulary projection) in the precision's bytes, and the fp32 KV
              caches (R t 2 E x 6 self, B S 2 E x 6 cross): time >= bytes /
              bandwidth; and 2 R x weights + 4 R E (t + S) x 6 operations:
              time >= operations / peak. The step takes at least the larger.
The bandwidth is the one measured (build/bench/heed_bench_bandwidth) over the
smallest measured working set at least as large as the step's bytes (caches
hold what fits: a large L3 serves int8 weights faster than DRAM); the peaks
from build/bench/heed_bench_fma_peak: fp32 the FMA peak, bf16 and int8 AMX's
where the CPU has it, else the FMA peak (bf16: AVX-512 BF16's dot products
measured at half the FMA rate, twice the products: the same) and 4x it (int8:
VNNI's four products a lane). Beam search's own work (scoring, reordering) is
not counted: a bound, not a model.
"""
import os
import re
import subprocess

E, F, LAYERS, VOCAB = 512, 2048, 6, 58101
BYTES = {"f32": 4, "bf16": 2, "int8": 1}


def machine(bin_dir, threads):
    """{'fp32': GFLOP/s, 'bf16': .., 'int8': .., 'bandwidth': [(MiB, GB/s), ...], 'notes': [..]}"""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    peaks = subprocess.run([os.path.join(bin_dir, "heed_bench_fma_peak")], capture_output=True, text=True, env=env,
                           check=True).stdout
    fma = [float(x) for x in re.findall(r"FP32 FMA peak: ([0-9.]+)", peaks)]
    amx_bf16 = re.search(r"AMX BF16 peak: ([0-9.]+)", peaks)
    amx_int8 = re.search(r"AMX INT8 peak: ([0-9.]+)", peaks)
    m = {"fp32": max(fma), "notes": []}
    m["bf16"] = float(amx_bf16.group(1)) if amx_bf16 else m["fp32"]
    m["int8"] = float(amx_int8.group(1)) if amx_int8 else 4 * m["fp32"]
    if not amx_bf16:
        m["notes"].append("no AMX: bf16 at the FP32 FMA peak, int8 at 4x it")
    sizes = ["16", "32", "64", "128", "256", "512", "1024", "2048"]
    out = subprocess.run([os.path.join(bin_dir, "heed_bench_bandwidth"), *sizes], capture_output=True, text=True,
                         env=env, check=True).stdout
    m["bandwidth"] = [(int(a), float(b)) for a, b in re.findall(r"read bandwidth: (\d+) MiB: ([0-9.]+) GB/s", out)]
    return m


def bandwidth_for(m, nbytes):
    """GB/s over the smallest measured working set holding nbytes (the largest measured beyond that)."""
    for mib, gbps in m["bandwidth"]:
        if mib * 2 ** 20 >= nbytes:
            return gbps
    return m["bandwidth"][-1][1]


def tokens_per_second(m, precision, beam, batch, source_len, target_len):
    """The most target tokens/s a row can reach (see the module's comment)."""
    peak = m[precision if precision != "f32" else "fp32"] * 1e9
    rows = batch * beam
    encoder_ops = 2 * batch * source_len * (LAYERS * (4 * E * E + 2 * E * F) + LAYERS * 2 * E * E) \
        + 4 * batch * source_len ** 2 * E * LAYERS
    seconds = encoder_ops / peak
    step_weights = LAYERS * (6 * E * E + 2 * E * F) + VOCAB * E
    for t in range(1, target_len + 1):
        kv = 4 * 2 * E * LAYERS * (rows * t + batch * source_len)
        nbytes = step_weights * BYTES[precision] + kv
        ops = 2 * rows * step_weights + 4 * rows * E * (t + source_len) * LAYERS
        seconds += max(nbytes / (bandwidth_for(m, nbytes) * 1e9), ops / peak)
    return batch * target_len / seconds


def engine_precision(engine):
    """The precision an engine name of bench/translate.py runs in."""
    variant = engine.partition("-")[2]
    if variant.startswith("int8"):
        return "int8"
    if variant.startswith("bf16"):
        return "bf16"
    return "f32"

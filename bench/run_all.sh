#!/usr/bin/env bash
# Runs every benchmark and prints the Markdown tables used in docs/benchmarks.md.
# Usage: bench/run_all.sh [BUILD_DIR]   (PyTorch peers need: pip install torch torchvision)
set -euo pipefail
build=${1:-build}
here=$(dirname "$0")
python3 "$here/op_overhead.py" --bin "$build/bench/heed_bench_ops" --threads "$(nproc)"
python3 "$here/attention.py" --bin "$build/bench/heed_bench_attention" --threads "$(nproc)"
python3 "$here/models.py" --bin "$build/bench/heed_bench_models" --threads "$(nproc)"
"$build/bench/heed_bench_vocab" --threads "$(nproc)"
# Needs transformers, sentencepiece and ctranslate2 (pip); about an hour for 500 sentences on 2 cores.
python3 "$here/translate.py" --heed "$build/heed" --threads "$(nproc)" --sentences "${HEED_BENCH_SENTENCES:-500}"

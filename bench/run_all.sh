#!/usr/bin/env bash
# Runs every benchmark and prints the Markdown tables used in docs/benchmarks.md.
# Usage: bench/run_all.sh [BUILD_DIR]   (PyTorch peers need: pip install torch)
set -euo pipefail
build=${1:-build}
python3 "$(dirname "$0")/op_overhead.py" --bin "$build/bench/heed_bench_ops" --threads "$(nproc)"
python3 "$(dirname "$0")/attention.py" --bin "$build/bench/heed_bench_attention" --threads "$(nproc)"
python3 "$(dirname "$0")/models.py" --bin "$build/bench/heed_bench_models" --threads "$(nproc)"

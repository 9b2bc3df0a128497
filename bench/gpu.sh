#!/usr/bin/env bash
# The GPU checks and benchmarks of issue 6, for a session that is lent a GPU
# machine (the device tool): that machine has CUDA, PyTorch and transformers but
# none of heed's Debian libraries and no network, so heed is built here and
# travels with its libraries.
#
#   bench/gpu.sh pack [BUILD_DIR]   here: writes .gpu/heed-gpu.tar.xz (binaries + the .so files
#                                   they need that a CUDA image lacks; ~11 MB; .gpu/ is git-ignored)
#   bench/gpu.sh run                there (run with carry [".gpu"]): unpacks it, runs every CUDA test,
#                                   then the GPU benchmarks; logs and tables under $OUT (or .gpu/out)
#
# The benchmarks run small (64 sentences, 3 repeats) to fit a lease of a few minutes.
# CTranslate2 is not on that machine (carry its wheel to add it: see the device tool's README).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pack() {
  local build=${1:-build} stage=.gpu/stage
  rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib"
  for b in heed tests/heed_tests bench/heed_bench_cuda_gemm bench/heed_bench_caption; do
    [ -x "$build/$b" ] || { echo "gpu.sh: $build/$b is missing: build with the CUDA backend first (./dev.sh build)" >&2; exit 1; }
    cp "$build/$b" "$stage/bin/"
  done
  # Every shared library they load, except libc's own and CUDA's (the GPU machine has its own).
  ldd "$stage"/bin/* | awk '/=> \// {print $3}' | sort -u |
    grep -vE '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libcudart|libcublas|libcublasLt|libstdc\+\+|libgcc_s)\.so' |
    xargs -r -I{} cp -L {} "$stage/lib/"
  tar -C "$stage" -cJf .gpu/heed-gpu.tar.xz bin lib
  rm -rf "$stage"
  echo "gpu.sh: .gpu/heed-gpu.tar.xz ($(du -h .gpu/heed-gpu.tar.xz | cut -f1)); on the GPU machine: bench/gpu.sh run, carry .gpu"
}

run() {
  local out=${OUT:-$root/.gpu/out} pkg=/tmp/heed-gpu
  mkdir -p "$out" "$pkg"
  tar -C "$pkg" -xJf .gpu/heed-gpu.tar.xz
  export LD_LIBRARY_PATH=$pkg/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
  export PYTHONUNBUFFERED=1
  # The test binary looks for its fixtures and examples where it was built.
  local built_at; built_at=$(strings "$pkg/bin/heed_tests" | grep -m1 -xE '/.*/examples' | sed 's|/examples$||')
  if [ -n "$built_at" ] && [ ! -e "$built_at" ]; then mkdir -p "$(dirname "$built_at")" && ln -s "$root" "$built_at"; fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
  set +e
  "$pkg/bin/heed_tests" --gtest_filter='*Cuda*:KvCache.Gpu*' 2>&1 | tee "$out/cuda_tests.log" | tail -40
  "$pkg/bin/heed_bench_cuda_gemm" --repeats 5 --iters 20 2>&1 | tee "$out/gemm.md"
  python3 bench/translate.py --heed "$pkg/bin/heed" --device cuda --engines heed,transformers --sentences 64 \
    --configs 1x1,1x32,4x32 2>&1 | tee "$out/translate_fp32.md"
  python3 bench/translate.py --heed "$pkg/bin/heed" --device cuda --precision fp16 --engines heed,transformers \
    --sentences 64 --configs 1x32,4x32 2>&1 | tee "$out/translate_fp16.md"
  python3 bench/vision.py --heed "$pkg/bin/heed" --caption-bench "$pkg/bin/heed_bench_caption" --device cuda \
    --repeats 3 2>&1 | tee "$out/vision.md"
}

case "${1:-}" in
  pack) pack "${2:-build}" ;;
  run) run ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

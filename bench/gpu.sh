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
#   bench/gpu.sh run STAGES         there: some of tests,gemm,translate,vision,onnx,profile (comma-separated;
#                                   profile: per-node GPU profiles of ResNet-50 and BERT at batch 8, and of
#                                   VQA at batch 32 after the vision stage)
#   bench/gpu.sh tests              there: the CUDA tests alone
#
# The benchmarks run small (64 sentences, 3 repeats) to fit a lease of a few minutes.
# CTranslate2 is not on that machine (carry its wheel to add it: see the device tool's README).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pack() {
  local build=${1:-build} stage=.gpu/stage
  rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib"
  for b in heed tests/heed_tests bench/heed_bench_cuda_gemm bench/heed_bench_caption bench/heed_bench_onnx_decode; do
    [ -x "$build/$b" ] || { echo "gpu.sh: $build/$b is missing: build with the CUDA backend first (./dev.sh build)" >&2; exit 1; }
    cp "$build/$b" "$stage/bin/"
  done
  # Every shared library they load, except libc's own and CUDA's (the GPU machine has its own).
  ldd "$stage"/bin/* | awk '/=> \// {print $3}' | sort -u |
    grep -vE '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libcudart|libcublas|libcublasLt|libstdc\+\+|libgcc_s)\.so' |
    xargs -r -I{} cp -L {} "$stage/lib/"
  # ONNX's node test cases (Debian's libonnx-testdata), which the CUDA tests run too
  local node=/usr/share/libonnx-testdata/data/node
  [ -d "$node" ] && mkdir -p "$stage/onnx-node" && cp -r "$node/." "$stage/onnx-node/"
  tar -C "$stage" -cJf .gpu/heed-gpu.tar.xz bin lib $([ -d "$stage/onnx-node" ] && echo onnx-node)
  rm -rf "$stage"
  echo "gpu.sh: .gpu/heed-gpu.tar.xz ($(du -h .gpu/heed-gpu.tar.xz | cut -f1)); on the GPU machine: bench/gpu.sh run, carry .gpu"
}

# Every CUDA test; a test that crashes the binary is logged and left out, and the
# rest run on (up to 20 crashes). The full log goes to $out/cuda_tests.log.
cuda_tests() {
  local bin=$1 out=$2 skip="" crashed=0 rc
  : >"$out/cuda_tests.log"
  while :; do
    "$bin" --gtest_filter="*Cuda*:KvCache.Gpu*${skip:+-$skip}" >"$out/cuda_run.log" 2>&1 && rc=0 || rc=$?
    cat "$out/cuda_run.log" >>"$out/cuda_tests.log"
    [ "$rc" -gt 128 ] && [ "$crashed" -lt 20 ] || break
    local last; last=$(grep '^\[ RUN' "$out/cuda_run.log" | tail -1 | awk '{print $4}')
    [ -n "$last" ] || break
    echo "CRASHED (signal $((rc - 128))): $last" >>"$out/cuda_tests.log"
    skip="${skip:+$skip:}$last" crashed=$((crashed + 1))
  done
  rm -f "$out/cuda_run.log"
  grep -E '^\[  FAILED  \] [A-Z]|^\[  (PASSED  |SKIPPED )\] [0-9]|^CRASHED' "$out/cuda_tests.log" | sort -u | tail -60
}

run() {
  local out=${OUT:-$root/.gpu/out} pkg=/tmp/heed-gpu
  mkdir -p "$out" "$pkg"
  tar -C "$pkg" -xJf .gpu/heed-gpu.tar.xz
  export LD_LIBRARY_PATH=$pkg/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
  export PYTHONUNBUFFERED=1
  [ -d "$pkg/onnx-node" ] && export HEED_ONNX_NODE_DATA=$pkg/onnx-node
  # The test binary looks for its fixtures and examples where it was built.
  local built_at; built_at=$(strings "$pkg/bin/heed_tests" | grep -xE '/.*/examples' | head -1 | sed 's|/examples$||' || true)
  if [ -n "$built_at" ] && [ ! -e "$built_at" ]; then mkdir -p "$(dirname "$built_at")" && ln -s "$root" "$built_at"; fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
  set +e
  local stages=${1:-tests,gemm,translate,vision,onnx}
  has() { [[ ",$stages," == *",$1,"* ]]; }
  has tests && cuda_tests "$pkg/bin/heed_tests" "$out"
  has gemm && "$pkg/bin/heed_bench_cuda_gemm" --repeats 5 --iters 20 2>&1 | tee "$out/gemm.md"
  if has translate; then
    python3 bench/translate.py --heed "$pkg/bin/heed" --device cuda --engines heed,transformers --sentences 64 \
      --configs 1x1,1x32,4x32 2>&1 | tee "$out/translate_fp32.md"
    python3 bench/translate.py --heed "$pkg/bin/heed" --device cuda --precision fp16 --engines heed,transformers \
      --sentences 64 --configs 1x32,4x32 2>&1 | tee "$out/translate_fp16.md"
  fi
  has vision && python3 bench/vision.py --heed "$pkg/bin/heed" --caption-bench "$pkg/bin/heed_bench_caption" --device cuda \
    --repeats 3 2>&1 | tee "$out/vision.md"
  # ONNX exports: heed on the GPU against PyTorch eager on the GPU, one process each per row
  has onnx && python3 bench/onnx_runtime.py --heed "$pkg/bin/heed" --device cuda --rounds 1 --repeats 10 \
    --models "${HEED_GPU_ONNX_MODELS:-bert-base,vit-b16,resnet50,gpt2-gen}" 2>&1 | tee "$out/onnx.md"
  # Where the time goes in the rows heed trails: per-node profiles on the GPU
  if has profile; then
    local dir=/tmp/heed-onnx-bench m
    mkdir -p "$dir"
    for m in resnet50 bert-base; do
      [ -e "$dir/$m-b8.onnx.inputs.safetensors" ] ||
        python3 bench/onnx_runtime.py --export "$m" 8 "$dir/$m-b8.onnx" >/dev/null 2>&1
      "$pkg/bin/heed" profile "$dir/$m-b8.onnx" --inputs "$dir/$m-b8.onnx.inputs.safetensors" --device cuda --repeat 10 \
        >"$out/profile_$m-b8.txt" 2>&1
      tail -25 "$out/profile_$m-b8.txt"
    done
    if [ -e /tmp/heed_bench_vqa_in32.safetensors ]; then
      "$pkg/bin/heed" profile /tmp/heed_bench_vqa --graph answer --inputs /tmp/heed_bench_vqa_in32.safetensors \
        --device cuda --repeat 10 >"$out/profile_vqa-b32.txt" 2>&1
      tail -25 "$out/profile_vqa-b32.txt"
    fi
  fi
}

case "${1:-}" in
  pack) pack "${2:-build}" ;;
  run) run "${2:-}" ;;
  tests) run tests ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

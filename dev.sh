#!/usr/bin/env bash
# heed's one entry point for a fresh machine:
#   ./dev.sh demo   install what is missing, build, translate, caption and answer with the bundled models
#   ./dev.sh test   install what is missing, build, run every test
#   ./dev.sh build  install what is missing and build (Release, into build/; with the Python module)
#   ./dev.sh deps   install what is missing only (Debian packages; nanobind, numpy, pytest, mypy from PyPI)
#   ./dev.sh wheel  pip wheel . (into build-wheel/), install it into a fresh venv, run tests/python on it
#   ./dev.sh bench  build and run the benchmarks in bench/ (PyTorch peers need: pip install torch)
#   ./dev.sh tsan   build with ThreadSanitizer (build-tsan/) and run the concurrency tests
#   ./dev.sh sanitize  build with AddressSanitizer + UBSan (build-asan/) and run every CPU test
#   ./dev.sh fuzz [TARGET] [SECONDS]  build the libFuzzer targets (clang, build-fuzz/) and fuzz
#                   TARGET (default: all, one after another) for SECONDS each (default 600)
#   ./dev.sh fuzz-smoke  build the fuzz targets and run each over its seed corpus (CI)
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(cmake make g++ pkg-config libdnnl-dev libfmt-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libpng-dev libjpeg-dev libfreetype-dev fonts-dejavu-core
  libsentencepiece-dev ocl-icd-opencl-dev libonnx-testdata python3-dev)
BUILD_DIR=${HEED_BUILD_DIR:-build}
JOBS=${HEED_JOBS:-$(nproc)}

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "dev.sh: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Python module's build and test needs (docs/python.md), from PyPI where missing.
PYTHON=${PYTHON:-python3}
install_python_missing() {
  "$PYTHON" -c "import nanobind, numpy, pytest, mypy" 2>/dev/null && return
  echo "dev.sh: installing nanobind numpy pytest mypy (pip)" >&2
  "$PYTHON" -m pip install -q nanobind numpy pytest mypy
}

build() {
  install_missing
  install_python_missing
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v "$PYTHON")" >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

FUZZ_TARGETS=(fuzz_safetensors fuzz_graph fuzz_model_config fuzz_text fuzz_image fuzz_onnx)
SANITIZERS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

# build_fuzz DIR FLAGS BUILD_TYPE: the fuzz targets built with clang.
build_fuzz() {
  local dir=$1 flags=$2 type=$3
  install_missing
  local missing_fuzz=()
  for p in clang libclang-rt-14-dev libomp-14-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_fuzz+=("$p")
  done
  if [ ${#missing_fuzz[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_fuzz[@]}" >/dev/null
  fi
  CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DHEED_CUDA=OFF -DHEED_BUILD_BENCH=OFF \
    -DHEED_BUILD_TESTS=OFF -DHEED_PYTHON=OFF -DHEED_FUZZ=ON -DCMAKE_CXX_FLAGS="$flags -fsanitize=fuzzer-no-link" >/dev/null
  cmake --build "$dir" -j "$JOBS" --target "${FUZZ_TARGETS[@]}"
}

# ASan reports leaks at exit (oneDNN and OpenMP keep process-lifetime caches, not leaks of
# heed's) and aborts on a huge allocation, where heed's own out-of-memory error is under test.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

case "${1:-}" in
  build) build ;;
  deps) install_missing; install_python_missing ;;
  wheel)
    # What a user of `pip install .` gets: the wheel alone in a new virtual
    # environment (numpy from PyPI), tested from outside the source tree.
    install_missing
    rm -rf build-wheel && mkdir -p build-wheel
    "$PYTHON" -m pip wheel . --no-deps -q -w build-wheel
    "$PYTHON" -m venv build-wheel/venv
    build-wheel/venv/bin/pip install -q build-wheel/heed-*.whl pytest mypy
    (cd build-wheel && HEED_SOURCE_DIR="$PWD/.." HEED_TOOL="$PWD/venv/bin/heed" OMP_WAIT_POLICY=passive \
      venv/bin/python -m pytest -q -rs -p no:cacheprovider ../tests/python)
    ;;
  demo)
    build
    m=examples/dates-marian
    echo; echo "== heed translate $m  (human-written dates -> ISO dates; a Marian model trained by scripts/train_marian_dates.py)"
    printf '%s\n' "3rd of March 2021" "the 14th of July, 1989" "Nov. 9, 1989" "25.12.2023" "7/4/1976" "1 jan 2000" |
      tee /dev/stderr | "$BUILD_DIR/heed" translate "$m" --beam 4 --attention "$BUILD_DIR/dates_attention.html"
    echo; echo "== the same with examples/dates-lstm  (an LSTM seq2seq with Luong attention, scripts/train_lstm_dates.py)"
    printf '%s\n' "3rd of March 2021" "25.12.2023" |
      "$BUILD_DIR/heed" translate examples/dates-lstm --attention "$BUILD_DIR/dates_lstm_attention.html"
    echo; echo "Open $BUILD_DIR/dates_attention.html (and dates_lstm_attention.html) to see where the models looked for each output token."
    pics=examples/shapes-test
    echo; echo "== heed caption examples/shapes-caption  (Show, Attend and Tell; pictures of shapes, scripts/train_shapes.py)"
    "$BUILD_DIR/heed" caption examples/shapes-caption "$pics/000.png" "$pics/001.png" "$pics/002.png" --beam 3 \
      --attention "$BUILD_DIR/caption_attention.html"
    echo; echo "== heed vqa examples/shapes-vqa  (pytorch-vqa's model on the same pictures)"
    for q in "what color is the triangle?" "how many shapes are there?" "is there a circle?"; do
      printf '%s  ->  ' "$q"
      "$BUILD_DIR/heed" vqa examples/shapes-vqa "$pics/000.png" "$q" --top 2 --attention "$BUILD_DIR/vqa_attention.html" 2>/dev/null
    done
    echo "Open $BUILD_DIR/caption_attention.html and vqa_attention.html to see each word's and glimpse's attention over the picture."
    echo; echo "== heed profile examples/mlp/mlp.json (a graph JSON; per-op times and a Chrome trace)"
    "$BUILD_DIR/heed" profile examples/mlp/mlp.json --inputs examples/mlp/mlp_inputs.safetensors --repeat 20 \
      --trace "$BUILD_DIR/mlp_trace.json" | tail -8
    ;;
  test)
    build
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
    ;;
  tsan)
    install_missing
    # Sessions run their kernels on one thread here (OMP_NUM_THREADS=1): what is
    # checked is heed's sharing of one model between threads, not libgomp's
    # internals, which are not instrumented and would report false races.
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEED_BUILD_BENCH=OFF -DHEED_PYTHON=OFF \
      -DCMAKE_CXX_FLAGS="-fsanitize=thread" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
      -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >/dev/null
    cmake --build build-tsan -j "$JOBS" --target heed_tests
    OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1" build-tsan/tests/heed_tests --gtest_filter='*Concurren*'
    ;;
  sanitize)
    install_missing
    # The Python module is left out: an ASan build cannot be loaded into an uninstrumented python.
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEED_CUDA=OFF -DHEED_BUILD_BENCH=OFF -DHEED_PYTHON=OFF \
      -DCMAKE_CXX_FLAGS="$SANITIZERS" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
      -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
    cmake --build build-asan -j "$JOBS"
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" -E "install|cpu_tests_on_avx2"
    ;;
  fuzz)
    build_fuzz build-fuzz "$SANITIZERS" RelWithDebInfo
    targets=("${FUZZ_TARGETS[@]}")
    [ -n "${2:-}" ] && targets=("$2")
    for t in "${targets[@]}"; do
      mkdir -p "build-fuzz/found/$t"
      echo "== $t for ${3:-600} s (new inputs in build-fuzz/found/$t, seeds in fuzz/corpus/$t)"
      "build-fuzz/fuzz/$t" -max_total_time="${3:-600}" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
        "build-fuzz/found/$t" "fuzz/corpus/$t"
    done
    ;;
  fuzz-smoke)
    # UBSan alone and -O1: a build CI can afford (ASan over the whole library
    # is for the long runs of `fuzz`); heed built with clang on the way.
    build_fuzz build-fuzz-smoke "-O1 -fsanitize=undefined -fno-sanitize-recover=undefined" None
    for t in "${FUZZ_TARGETS[@]}"; do
      echo "== $t: its seed corpus, then 2000 mutations"
      rm -rf "build-fuzz-smoke/new/$t" && mkdir -p "build-fuzz-smoke/new/$t"  # new inputs go here, not into the seeds
      "build-fuzz-smoke/fuzz/$t" -runs=2000 -timeout=20 -rss_limit_mb=4096 -seed=1 "build-fuzz-smoke/new/$t" "fuzz/corpus/$t" 2>&1 | tail -2
    done
    echo "fuzz-smoke: ${#FUZZ_TARGETS[@]} passed, 0 failed"
    ;;
  bench)
    build
    bench/run_all.sh "$BUILD_DIR"
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

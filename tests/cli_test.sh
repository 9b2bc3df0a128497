#!/usr/bin/env bash
# The heed tool end to end: success paths, and bad input giving a one-line error
# and exit code 1 (never a crash). Usage: cli_test.sh HEED_BINARY REPO_ROOT
set -u
heed=$1; root=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_ok NAME PATTERN CMD...: exit 0 and stdout matches PATTERN
expect_ok() {
  local name=$1 pattern=$2; shift 2
  local out; out=$("$@" 2>&1); local rc=$?
  if [ $rc -ne 0 ]; then bad "$name: exit $rc: $out"; return; fi
  if ! grep -qE -- "$pattern" <<<"$out"; then bad "$name: output lacks /$pattern/: $out"; return; fi
  ok
}
# expect_error NAME PATTERN CMD...: exit 1, exactly one line on stderr matching PATTERN
expect_error() {
  local name=$1 pattern=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ $rc -ne 1 ]; then bad "$name: exit $rc (want 1): $(cat "$tmp/err")"; return; fi
  if [ "$lines" -ne 1 ]; then bad "$name: $lines lines on stderr: $(cat "$tmp/err")"; return; fi
  if ! grep -qE -- "$pattern" "$tmp/err"; then bad "$name: stderr lacks /$pattern/: $(cat "$tmp/err")"; return; fi
  ok
}

mlp=$root/examples/mlp
expect_ok help "inspect" "$heed" --help
expect_ok run_help "--inputs" "$heed" run --help
expect_ok profile_help "--repeat" "$heed" profile --help
expect_ok inspect_file "0.weight +F32 +\[32, 16\]" "$heed" inspect "$mlp/mlp.safetensors"
expect_ok inspect_model "Linear +fc1 .*x: f32\[batch, 16\]" "$heed" inspect "$mlp/mlp.json"
expect_ok run "label: i64\[4\] = \[4, 4, 0, 7\]" "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --output "$tmp/out.safetensors"
expect_ok run_output_written "probs +F32 +\[4, 10\]" "$heed" inspect "$tmp/out.safetensors"
expect_ok run_repeat "5 runs: median" "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --repeat 5 --threads 1
expect_ok run_profile_trace "trace written" "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --profile="$tmp/t.json"
expect_ok trace_file '"ph": "X"' cat "$tmp/t.json"
expect_ok profile_table "op type +calls" "$heed" profile "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --repeat 3
expect_ok isa_avx2 "label: i64\[4\] = \[4, 4, 0, 7\]" env HEED_CPU_ISA=avx2 "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors"
expect_error isa_unknown "HEED_CPU_ISA=avx-2: expected avx2, avx512 or auto" env HEED_CPU_ISA=avx-2 "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors"
for kernel in panels onednn auto; do
  expect_ok "projection_$kernel" "label: i64\[4\] = \[4, 4, 0, 7\]" env HEED_PROJECTION=$kernel "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors"
done
expect_error projection_unknown "HEED_PROJECTION=mkl: expected panels, onednn or auto" env HEED_PROJECTION=mkl "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors"
if grep -q avx512f /proc/cpuinfo && grep -q avx512bw /proc/cpuinfo && grep -q avx512dq /proc/cpuinfo && grep -q avx512vl /proc/cpuinfo; then
  expect_ok isa_avx512 "label: i64\[4\] = \[4, 4, 0, 7\]" env HEED_CPU_ISA=avx512 "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors"
else
  expect_error isa_avx512_missing "lacks AVX-512" env HEED_CPU_ISA=avx512 "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors"
fi

att=$root/examples/attention
expect_ok run_attention "attention/self: f32\[1, 2, 9, 9\]" "$heed" run "$att/attention.json" --inputs "$att/attention_inputs.safetensors" --attention "$tmp/att.html" --attention-png-dir "$tmp/png" --output "$tmp/att.safetensors"
expect_ok attention_html_images "^5$" sh -c "grep -o 'data:image/png' '$tmp/att.html' | wc -l"
expect_ok attention_pngs "self__mean_of_2_heads.png" ls "$tmp/png"
expect_ok attention_from_file "written to" "$heed" attention "$tmp/att.safetensors" --tensor attention/cross --html "$tmp/a2.html" --source-tokens "a b c d e f g h i"
expect_error attention_needs_output "give --html FILE and/or --png-dir DIR" "$heed" attention "$tmp/att.safetensors"
expect_error attention_unknown_tensor "no tensor named 'nope'" "$heed" attention "$tmp/att.safetensors" --tensor nope --html "$tmp/x.html"
expect_error attention_bad_grid "--grid 'big': expected HxW" "$heed" attention "$tmp/att.safetensors" --tensor attention/cross --html "$tmp/x.html" --image "$root/tests/fixtures/block.json" --grid big
expect_error attention_bad_image "block.json: not a PNG or JPEG file" "$heed" attention "$tmp/att.safetensors" --tensor attention/cross --html "$tmp/x.html" --image "$root/tests/fixtures/block.json" --grid 3x3

dates=$root/examples/dates-marian
printf '3rd of March 2021\n\nJuly 14, 1989\n' >"$tmp/dates.txt"
expect_ok translate "^2021-03-03$" "$heed" translate "$dates" --input "$tmp/dates.txt" --threads 1
expect_ok translate_keeps_empty_lines "^2021-03-03,,1989-07-14$" sh -c "'$heed' translate '$dates' --input '$tmp/dates.txt' 2>/dev/null | paste -sd,"
expect_ok translate_stdin_beam "^1989-07-14$" sh -c "echo 'July 14, 1989' | '$heed' translate '$dates' --beam 4"
expect_ok translate_nbest "^-?[0-9.]+	1989-07-14$" sh -c "echo 'July 14, 1989' | '$heed' translate '$dates' --beam 3 --n-best 2 2>/dev/null | head -1"
expect_ok translate_attention "attention heatmaps written" "$heed" translate "$dates" --input "$tmp/dates.txt" --attention "$tmp/dates.html"
expect_error translate_half_gemm_on_cpu "gemm_dtype f16 needs device 'cuda'" "$heed" translate "$dates" --input "$tmp/dates.txt" --gemm-dtype f16
expect_ok run_unknown_gemm_dtype "--gemm-dtype: f8 not in \{f32,f16,bf16\}" sh -c "'$heed' run '$mlp/mlp.json' --inputs '$mlp/mlp_inputs.safetensors' --gemm-dtype f8 2>&1; test \$? -eq 105"
expect_ok translate_summary "translated 3 lines: .* tokens/s" "$heed" translate "$dates" --input "$tmp/dates.txt"
expect_ok run_unknown_precision "--precision: fp16 not in \{f32,bf16,int8\}" sh -c "'$heed' run '$mlp/mlp.json' --inputs '$mlp/mlp_inputs.safetensors' --precision fp16 2>&1; test \$? -eq 105"
# --precision bf16 needs AVX-512 (elsewhere one line says so); int8 runs anywhere: oneDNN's with AVX-512 VNNI,
# else heed's AVX2 kernel (backends/cpu/int8_gemm_avx2.h), its convolutions then with 7-bit weights.
if grep -q avx512f /proc/cpuinfo && [ "${HEED_CPU_ISA:-}" != avx2 ]; then
  expect_ok translate_bf16 "^2021-03-03$" "$heed" translate "$dates" --input "$tmp/dates.txt" --precision bf16
  expect_ok inspect_bf16 "Linear +fc1 .*\[bf16\]" "$heed" inspect "$mlp/mlp.json" --precision bf16
else
  expect_error translate_bf16_refused "precision bf16: oneDNN has no kernel for it on this CPU" "$heed" translate "$dates" --input "$tmp/dates.txt" --precision bf16
fi
expect_ok translate_int8 "^2021-03-03$" "$heed" translate "$dates" --input "$tmp/dates.txt" --precision int8
expect_ok inspect_int8 "graph 'main': 4 nodes, 2 in int8 \(marked\), f32 in the rest" "$heed" inspect "$mlp/mlp.json" --precision int8
expect_ok run_int8 "label: i64\[4\]" "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --precision int8
# heed quantize: a directory of its own (side files copied, weights stored), which
# runs in its precision by default and in f32 when asked, on any CPU.
expect_ok quantize_dir "33 weights stored in int8 .* written to" "$heed" quantize "$dates" -o "$tmp/dates-int8" --precision int8
expect_ok quantize_dir_files "^heed.safetensors source.spm target.spm vocab.json$" sh -c "cd '$tmp/dates-int8' && ls heed.safetensors model.safetensors source.spm target.spm vocab.json 2>/dev/null | paste -sd' '"
size_ok=$(python3 -c "import os,sys; print(os.path.getsize(sys.argv[1]) < 0.35 * os.path.getsize(sys.argv[2]))" "$tmp/dates-int8/heed.safetensors" "$dates/model.safetensors" 2>/dev/null || echo True)
if [ "$size_ok" = True ]; then ok; else bad "quantize_size: int8 file not under 0.35x the fp32 one"; fi
expect_ok quantize_inspect "weights: 33 of 88 stored in int8 \(heed quantize\)" "$heed" inspect "$tmp/dates-int8"
expect_ok quantized_runs_in_f32_anywhere "^2021-03-03$" env HEED_CPU_ISA=avx2 "$heed" translate "$tmp/dates-int8" --input "$tmp/dates.txt" --precision f32
expect_ok quantize_file "weights stored in bf16" "$heed" quantize "$mlp/mlp.json" -o "$tmp/mlp-bf16.safetensors" --precision bf16
expect_ok quantized_file_runs_f32 "label: i64\[4\] = \[4, 4, 0, 7\]" "$heed" run "$tmp/mlp-bf16.safetensors" --inputs "$mlp/mlp_inputs.safetensors" --precision f32
expect_ok quantized_translate "^2021-03-03$" "$heed" translate "$tmp/dates-int8" --input "$tmp/dates.txt"
expect_ok quantized_inspect_marks "graph 'decoder_step': .* in int8 \(marked\)" "$heed" inspect "$tmp/dates-int8"
if grep -q avx512f /proc/cpuinfo && [ "${HEED_CPU_ISA:-}" != avx2 ]; then
  expect_ok quantized_file_runs "label: i64\[4\]" "$heed" run "$tmp/mlp-bf16.safetensors" --inputs "$mlp/mlp_inputs.safetensors"
else
  expect_error quantized_bf16_refused_here "precision bf16: oneDNN has no kernel" "$heed" run "$tmp/mlp-bf16.safetensors" --inputs "$mlp/mlp_inputs.safetensors"
fi
expect_error quantize_needs_precision "quantize: give --precision int8 or bf16" "$heed" quantize "$dates" -o "$tmp/q2"
expect_error quantize_f32 "quantize: give --precision int8 or bf16" "$heed" quantize "$dates" -o "$tmp/q2" --precision f32
expect_error quantize_again "already stored in int8; quantize the fp32 model" "$heed" quantize "$tmp/dates-int8" -o "$tmp/q3" --precision bf16
expect_error quantize_into_itself "the output directory must not be the model's own" "$heed" quantize "$dates" -o "$dates" --precision int8
expect_error quantize_file_suffix "the output of a model file must end in .safetensors" "$heed" quantize "$mlp/mlp.json" -o "$tmp/mlp.bin" --precision int8
expect_error convert_quantized "already in heed's form" "$heed" convert "$tmp/dates-int8" -o "$tmp/x.safetensors"
# --calibrate: activation ranges over sample inputs stored with the model (static int8 convolutions).
static="$root/tests/fixtures/quantized"
expect_ok quantize_calibrate "graph 'main': 7 activation ranges calibrated over 1 file\(s\)" "$heed" quantize "$static/static.json" -o "$tmp/static-cal.safetensors" --precision int8 --calibrate "$static/static_sample.safetensors"
expect_ok quantize_calibrated_inspect "activation ranges: 7 calibrated \(heed quantize --calibrate\)" "$heed" inspect "$tmp/static-cal.safetensors"
expect_ok quantize_calibrated_runs "y: f32\[2, 16, 5, 5\]" "$heed" run "$tmp/static-cal.safetensors" --inputs "$static/static_sample.safetensors"
expect_error quantize_calibrate_inputs "static_io.safetensors: calibrating graph 'main'" "$heed" quantize "$static/static.json" -o "$tmp/static-x.safetensors" --precision int8 --calibrate "$static/static_io.safetensors"
expect_error quantize_graph_alone "quantize: --graph goes with --calibrate" "$heed" quantize "$static/static.json" -o "$tmp/static-x.safetensors" --precision int8 --graph main
expect_error quantize_calibrate_bf16 "--calibrate is for int8" "$heed" quantize "$static/static.json" -o "$tmp/static-x.safetensors" --precision bf16 --calibrate "$static/static_sample.safetensors"
expect_ok inspect_cpu "heed loops: AVX" "$heed" inspect --cpu
expect_ok inspect_cpu_avx2 "precision int8: yes \(projections on heed's AVX2 int8 kernel.*convolutions with 7-bit weights" env HEED_CPU_ISA=avx2 "$heed" inspect --cpu
expect_ok inspect_int8_conv_avx2 "Conv2d .*\[int8\]" env HEED_CPU_ISA=avx2 "$heed" inspect "$static/static.json" --precision int8
expect_ok inspect_cpu_attention_avx2 "attention core in bf16: no, fp32" env HEED_CPU_ISA=avx2 "$heed" inspect --cpu
# A CPU run opens no CUDA library (cuBLAS is opened on first CUDA use: ~150 MB of
# RSS otherwise); asking for CUDA does open the driver, which shows the check sees loads.
cuda_loads() { LD_DEBUG=files "$@" 2>&1 | grep -oE "file=lib(cublas|cublasLt|cudart|cuda)\.so[.0-9]*" | sort -u | tr '\n' ' '; }
loaded=$(cuda_loads "$heed" translate "$dates" --input "$tmp/dates.txt")
if [ -z "$loaded" ]; then ok; else bad "cpu_run_loads_no_cuda: loaded $loaded"; fi
if "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --device cuda 2>&1 | grep -q "has no CUDA backend"; then
  echo "cli: this build has no CUDA backend: the check that a CUDA run opens the driver is skipped"
else
  loaded=$(cuda_loads "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --device cuda)
  if grep -q "libcuda" <<<"$loaded"; then ok; else bad "cuda_run_opens_driver: loaded '$loaded'"; fi
fi
expect_error inspect_nothing "inspect: give a FILE \(a .safetensors file or a model\), or --cpu" "$heed" inspect
expect_ok translate_int8_avx2 "^2021-03-03$" env HEED_CPU_ISA=avx2 "$heed" translate "$dates" --input "$tmp/dates.txt" --precision int8
expect_ok quantized_translate_avx2 "^2021-03-03$" env HEED_CPU_ISA=avx2 "$heed" translate "$tmp/dates-int8" --input "$tmp/dates.txt"
python3 -c 'print(" ".join(["3rd of March 2021"] * 20))' >"$tmp/long.txt" 2>/dev/null || printf '%s ' $(seq 1 80) >"$tmp/long.txt"
expect_ok translate_truncates_long_lines "warning: line 1 is longer than the model takes \\(its positions, or heed::Limits\\); its first 64 tokens were translated" "$heed" translate "$dates" --input "$tmp/long.txt"
expect_error translate_missing_dir "nope: a model directory needs config.json|nope: cannot open" "$heed" translate "$tmp/nope" --input "$tmp/dates.txt"
expect_error translate_bad_beam "--beam, --batch-size and --max-length must be >= 1" "$heed" translate "$dates" --beam 0 --input "$tmp/dates.txt"
mkdir -p "$tmp/nospm" && cp "$dates/config.json" "$dates/model.safetensors" "$tmp/nospm/"
expect_error translate_missing_tokenizer "source.spm: missing" "$heed" translate "$tmp/nospm" --input "$tmp/dates.txt"
lstm=$root/examples/dates-lstm
expect_ok translate_lstm "^2021-03-03$" sh -c "'$heed' translate '$lstm' --input '$tmp/dates.txt' --beam 3 2>/dev/null | head -1"
expect_ok translate_lstm_attention "attention heatmaps written" "$heed" translate "$lstm" --input "$tmp/dates.txt" --attention "$tmp/lstm.html"
expect_error translate_lstm_bad_id "index 500 at position 0 is out of range" sh -c "echo '500 0' | '$heed' translate '$lstm' --ids"

cap=$root/examples/shapes-caption; vqa=$root/examples/shapes-vqa; pics=$root/examples/shapes-test
cap1=$(awk -F'\t' 'NR==2{print $3}' "$pics/captions.tsv")
expect_ok caption_help "--beam" "$heed" caption --help
expect_ok caption "^$cap1$" sh -c "'$heed' caption '$cap' '$pics/000.png' '$pics/001.png' 2>/dev/null | head -1"
expect_ok caption_beam_nbest "^-?[0-9.]+	$cap1$" sh -c "'$heed' caption '$cap' '$pics/000.png' --beam 3 --n-best 2 2>/dev/null | head -1"
expect_ok caption_attention "attention overlays written" "$heed" caption "$cap" "$pics/000.png" --attention "$tmp/cap.html"
expect_ok caption_html "<img alt=\"a\"" cat "$tmp/cap.html"
expect_ok caption_profile "LSTMCell" "$heed" caption "$cap" "$pics/000.png" --profile
expect_ok caption_input_file "^$cap1,.*,.*$" sh -c "printf '$pics/000.png\n\n$pics/001.png\n$pics/002.png\n' >'$tmp/pics.txt' && '$heed' caption '$cap' --input '$tmp/pics.txt' 2>/dev/null | paste -sd,"
expect_error caption_no_images "give IMAGE files \\(or --input FILE\\), or --features FILE" "$heed" caption "$cap"
expect_error caption_not_an_image "not_an_image.png: not a PNG or JPEG file" "$heed" caption "$cap" "$root/tests/fixtures/images/not_an_image.png"
expect_error caption_truncated "truncated.png: cannot decode PNG" "$heed" caption "$cap" "$root/tests/fixtures/images/truncated.png"
expect_error caption_missing_image "nope.png: cannot open" "$heed" caption "$cap" "$tmp/nope.png"
expect_error caption_wrong_model "not a Show, Attend and Tell captioning model" "$heed" caption "$root/examples/dates-lstm" "$pics/000.png"
expect_error caption_bad_beam "--beam and --batch-size must be >= 1" "$heed" caption "$cap" "$pics/000.png" --beam 0
expect_ok vqa_help "--top" "$heed" vqa --help
expect_ok vqa "^two	[01]\.[0-9]{4}	[a-z]+	[01]\.[0-9]{4}$" sh -c "'$heed' vqa '$vqa' '$pics/000.png' 'how many shapes are there?' --top 2 2>/dev/null"
expect_ok vqa_input_file "answered 2 questions" sh -c "printf '$pics/000.png\tis there a circle?\n$pics/001.png\twhat color is the square\n' >'$tmp/q.tsv' && '$heed' vqa '$vqa' --input '$tmp/q.tsv'"
expect_ok vqa_attention "attention overlays written" "$heed" vqa "$vqa" "$pics/000.png" "is there a circle?" --attention "$tmp/vqa.html"
expect_ok vqa_unknown_words "question 1: unknown words .*: zebra" "$heed" vqa "$vqa" "$pics/000.png" "is there a zebra?"
expect_error vqa_empty_question "question 1: \"\?\" has no words" "$heed" vqa "$vqa" "$pics/000.png" "?"
expect_error vqa_no_question "give IMAGE and QUESTION" "$heed" vqa "$vqa" "$pics/000.png"
expect_error vqa_bad_input_line "q.tsv:1: expected IMAGE<TAB>QUESTION" sh -c "echo 'no tab here' >'$tmp/q.tsv' && '$heed' vqa '$vqa' --input '$tmp/q.tsv'"
expect_error vqa_gray16 "gray16.png: cannot decode PNG: 16-bit grayscale" "$heed" vqa "$vqa" "$root/tests/fixtures/images/gray16.png" "is there a circle?"
# Features instead of pictures: the trunk's output through `heed run`, then the answer graph.
expect_ok vqa_trunk_run "features" "$heed" run "$vqa" --graph image_features --inputs "$root/tests/fixtures/shapes_pictures.safetensors" --output "$tmp/feats.safetensors"
want0=$(awk -F'\t' '$1=="000.png" && $2=="how many shapes are there?"{print $4}' "$pics/questions.tsv")
want1=$(awk -F'\t' '$1=="001.png" && $2=="how many shapes are there?"{print $4}' "$pics/questions.tsv")
expect_ok vqa_features "^$want0	[01][.0-9]*	.*,$want1	" sh -c "'$heed' vqa '$vqa' --features '$tmp/feats.safetensors' 'how many shapes are there?' 2>/dev/null | paste -sd,"
expect_ok vqa_features_input "^$want1	" sh -c "printf '1\thow many shapes are there?\n' >'$tmp/fq.tsv' && '$heed' vqa '$vqa' --features '$tmp/feats.safetensors' --input '$tmp/fq.tsv' 2>/dev/null"
expect_error vqa_features_bad_row "question 1: row '7' is not in \[0, 2\)" sh -c "printf '7\tis there a circle?\n' >'$tmp/fq.tsv' && '$heed' vqa '$vqa' --features '$tmp/feats.safetensors' --input '$tmp/fq.tsv'"
expect_error vqa_features_attention "--attention needs pictures" "$heed" vqa "$vqa" --features "$tmp/feats.safetensors" "is there a circle?" --attention "$tmp/x.html"
expect_error vqa_wrong_model "not a pytorch-vqa model" "$heed" vqa "$cap" "$pics/000.png" "is there a circle?"

printf 'garbage' >"$tmp/bad.safetensors"
echo '{"format": "heed.graph", "version": 1, "graphs": {"main": {"inputs": [], "outputs": ["y"], "nodes": [{"op": "Nope", "inputs": [], "outputs": ["y"]}]}}}' >"$tmp/bad.json"
expect_error missing_model "nope.json: cannot open" "$heed" run "$tmp/nope.json" --inputs "$mlp/mlp_inputs.safetensors"
expect_error bad_inputs_file "bad.safetensors: .*" "$heed" run "$mlp/mlp.json" --inputs "$tmp/bad.safetensors"
expect_error unknown_op "unknown op 'Nope'" "$heed" run "$tmp/bad.json" --inputs "$mlp/mlp_inputs.safetensors"
expect_error wrong_input "graph 'main' has no input named '0.bias'" "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp.safetensors"
expect_error bad_graph_name "no graph named 'dec'" "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --graph dec
expect_error bad_repeat "--repeat must be at least 1" "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --repeat 0
expect_error inspect_garbage "bad.safetensors: " "$heed" inspect "$tmp/bad.safetensors"
expect_error directory_model "a model directory needs config.json" "$heed" run "$tmp" --inputs "$mlp/mlp_inputs.safetensors"
"$heed" frobnicate >/dev/null 2>&1; rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ]; then ok; else bad "unknown subcommand: exit $rc"; fi

# Captions of features (any encoder's output) instead of pictures: the bundled model's own encoder features.
expect_ok caption_features_run "features" "$heed" run "$cap" --graph encoder --inputs "$root/tests/fixtures/shapes_pictures.safetensors" --output "$tmp/cap_feats.safetensors"
cap0=$("$heed" caption "$cap" "$pics/000.png" 2>/dev/null)
expect_ok caption_features "^$cap0" "$heed" caption "$cap" --features "$tmp/cap_feats.safetensors"
expect_error caption_features_attention "--attention needs pictures" "$heed" caption "$cap" --features "$tmp/cap_feats.safetensors" --attention "$tmp/x.html"

# Hostile input (issue 15): a decoder step whose KV caches come from a read-only
# inputs file (heed writes them in its private copy), a FIFO named as weights,
# and a failed write that must leave the previous output whole.
if command -v python3 >/dev/null; then
  python3 - "$tmp/step.safetensors" <<'PY'
import json, struct, sys
dims = {"input_ids": ("I64", [1, 1]), "positions": ("I64", [1]), "position": ("I64", []), "src_pad": ("BOOL", [1, 3])}
for l in range(2):
    for kind in ("cross_k", "cross_v"): dims[f"{kind}.{l}"] = ("F32", [1, 4, 3, 32])
    for kind in ("cache_k", "cache_v"): dims[f"{kind}.{l}"] = ("F32", [1, 4, 8, 32])
size = {"I64": 8, "F32": 4, "BOOL": 1}
header, blobs, off = {}, [], 0
for name, (dt, shape) in dims.items():
    n = size[dt]
    for d in shape: n *= d
    header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
    blobs.append(b"\0" * n); off += n
h = json.dumps(header).encode(); h += b" " * ((8 - len(h) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
  chmod a-w "$tmp/step.safetensors"
  expect_ok run_decoder_step_caches_from_file "logits: f32\[1, 1, " "$heed" run "$dates" --graph decoder_step --inputs "$tmp/step.safetensors"
fi
mkfifo "$tmp/w.fifo" && printf '{"format": "heed.graph", "version": 1, "weights": "w.fifo", "graphs": {"main": {"inputs": [], "outputs": ["y"], "nodes": []}}}' >"$tmp/fifo.json"
expect_error weights_fifo_refused "w.fifo: not a regular file" timeout 20 "$heed" run "$tmp/fifo.json" --inputs "$mlp/mlp_inputs.safetensors"
printf '{"format": "heed.graph", "version": 1, "weights": "/etc/passwd", "graphs": {"main": {"inputs": [], "outputs": ["y"], "nodes": []}}}' >"$tmp/abs.json"
expect_error weights_absolute_refused "must be a relative path inside the model's directory" "$heed" run "$tmp/abs.json" --inputs "$mlp/mlp_inputs.safetensors"
printf 'previous' >"$tmp/keep.safetensors"
expect_error output_failed_write "nope/out.safetensors: cannot write" "$heed" run "$mlp/mlp.json" --inputs "$mlp/mlp_inputs.safetensors" --output "$tmp/nope/out.safetensors"
expect_error pool_stride_zero "node 'p' \(MaxPool2d\): kernel_size \(2, 2\) and stride \(0, 0\) must be >= 1" sh -c "printf '{\"format\": \"heed.graph\", \"version\": 1, \"graphs\": {\"main\": {\"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [1, 1, 4, 4]}], \"outputs\": [\"y\"], \"nodes\": [{\"name\": \"p\", \"op\": \"MaxPool2d\", \"inputs\": [\"x\"], \"outputs\": [\"y\"], \"attrs\": {\"kernel_size\": [2], \"stride\": [0]}}]}}}' >'$tmp/pool.json' && '$heed' inspect '$tmp/pool.json'"


# ONNX models: inspect (fusions shown), run, profile, convert, and refusals by name.
onnx=$root/tests/fixtures/onnx
head -c 3000 "$onnx/cnn.onnx" > "$tmp/cut.onnx"
expect_ok onnx_inspect "Gelu +/Div .*-> \(/Mul_1_output_0: f32\[batch, 24\]\)" "$heed" inspect "$onnx/mlp.onnx"
expect_ok onnx_convert "1 graph\(s\), .* tensors .* written to" "$heed" convert "$onnx/cnn.onnx" -o "$tmp/cnn.safetensors"
expect_ok onnx_converted_inspect "architecture = onnx" "$heed" inspect "$tmp/cnn.safetensors"
expect_ok onnx_run "y: f32\[2, 5, 16\]" "$heed" run "$onnx/attention.onnx" --inputs "$onnx/attention_inputs.safetensors"
expect_ok onnx_profile "LayerNorm" "$heed" profile "$onnx/attention.onnx" --inputs "$onnx/attention_inputs.safetensors" --repeat 2
expect_ok onnx_attention_heatmaps "attention heatmaps written to" "$heed" run "$onnx/bert.onnx" --inputs "$onnx/bert_inputs.safetensors" --attention "$tmp/bert_attention.html"
expect_ok onnx_attention_fused "MultiHeadAttention" "$heed" inspect "$onnx/bert.onnx"
expect_ok onnx_dynamic_axes "present_v1: f32\[2, 4, 5, 8\]" "$heed" run "$onnx/gpt2_past.onnx" --inputs "$onnx/gpt2_past_inputs.safetensors"
expect_error onnx_unknown_op "bad_unknown_op.onnx: node 'hm' \(Hardmax, opset 17\): heed does not import" "$heed" inspect "$onnx/bad_unknown_op.onnx"
expect_error onnx_truncated "not a valid ONNX model" "$heed" run "$tmp/cut.onnx" --inputs "$onnx/attention_inputs.safetensors"
expect_error onnx_convert_heed_form "already in heed's form" "$heed" convert "$mlp/mlp.json" -o "$tmp/x.safetensors"
expect_error onnx_convert_suffix "must end in .safetensors" "$heed" convert "$onnx/cnn.onnx" -o "$tmp/x.bin"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

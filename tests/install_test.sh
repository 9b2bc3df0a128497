#!/usr/bin/env bash
# heed as an installed package: `cmake --install` into a temporary prefix, then
#  - every installed header compiles alone with only the standard library,
#  - libheed.so exports heed's API and nothing of its internals or dependencies,
#  - examples/translate builds with find_package(heed) against the shared and the
#    static library, and with pkg-config, and translates with the bundled model,
#  - examples/batch-service builds and answers requests from stdin.
#  - examples/describe-image builds, captions a demo picture and answers a question about it.
# Usage: install_test.sh BUILD_DIR REPO_ROOT
set -euo pipefail
build=$1; root=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
lib=$(dirname "$(find "$prefix" -name 'libheed.so' | head -1)")
model=$root/examples/dates-marian
fail() { echo "FAIL: $*"; exit 1; }

for h in "$prefix"/include/heed/*.h; do
  echo "#include <heed/$(basename "$h")>" | g++ -std=c++20 -fsyntax-only -I "$prefix/include" -x c++ - ||
    fail "installed header $(basename "$h") does not compile on its own"
done
# /usr/include, where the dependencies' headers are, is always searched: so also
# check that no installed header names one.
if grep -lE '#include <(dnnl|oneapi|cuda|cublas|fmt/|nlohmann/|sentencepiece|png|jpeglib)' "$prefix"/include/heed/*.h; then
  fail "an installed header includes a dependency"
fi

leaked=$(nm -DC --defined-only "$lib/libheed.so" | awk '{ $1=""; $2=""; print substr($0, 3) }' |
  grep -E '^(heed::|dnnl|fmt::|nlohmann|sentencepiece|png_|jpeg_|FT_)' |
  grep -vE '^heed::(Model|Session|Generator|Translator|Captioner|QuestionAnswerer|Tensor|Shape|Profile|Error|dtype_size|dtype_name|dtype_from_name|precision_name|precision_from_name|is_floating|limits|set_limits|attention_figures|attention_html)\b' || true)
[ -z "$leaked" ] || fail "libheed.so exports internal symbols: $(echo "$leaked" | head -5)"

for variant in shared static; do
  static=OFF; [ $variant = static ] && static=ON
  cmake -S "$root/examples/translate" -B "$tmp/ex-$variant" -DCMAKE_PREFIX_PATH="$prefix" -DHEED_EXAMPLE_STATIC=$static >/dev/null ||
    fail "examples/translate does not configure against the installed package ($variant)"
  cmake --build "$tmp/ex-$variant" -j 2 >/dev/null || fail "examples/translate does not build ($variant)"
  out=$(LD_LIBRARY_PATH="$lib" "$tmp/ex-$variant/translate" "$model" "3rd of March 2021" "July 14, 1989")
  [ "$out" = $'2021-03-03\n1989-07-14' ] || fail "examples/translate ($variant) printed: $out"
done
if [ $variant = static ] && ldd "$tmp/ex-static/translate" | grep -q libheed; then fail "the static example links libheed.so"; fi

g++ -std=c++20 "$root/examples/translate/main.cc" -o "$tmp/translate-pc" \
  $(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --cflags --libs heed) -Wl,-rpath,"$lib" || fail "pkg-config build"
[ "$("$tmp/translate-pc" "$model" "25.12.2023")" = "2023-12-25" ] || fail "the pkg-config build translates wrongly"

cmake -S "$root/examples/batch-service" -B "$tmp/svc" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null && cmake --build "$tmp/svc" -j 2 >/dev/null ||
  fail "examples/batch-service does not build"
out=$(printf 'a\t3rd of March 2021\nb\t25.12.2023\n\nc\tJuly 14, 1989\nbad line\n' | LD_LIBRARY_PATH="$lib" "$tmp/svc/batch-service" "$model" 2 2)
[ "$out" = $'a\t2021-03-03\nb\t2023-12-25\nbad line\terror: expected ID<TAB>TEXT\nc\t1989-07-14' ] || fail "batch-service printed: $out"
pics=$root/examples/shapes-test
cmake -S "$root/examples/describe-image" -B "$tmp/describe" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null && cmake --build "$tmp/describe" -j 2 >/dev/null ||
  fail "examples/describe-image does not build"
out=$(LD_LIBRARY_PATH="$lib" "$tmp/describe/describe-image" "$root/examples/shapes-caption" "$root/examples/shapes-vqa" "$pics/000.png" "how many shapes are there?")
want_caption=$(awk -F'\t' 'NR==2{print $3}' "$pics/captions.tsv")
want_answer=$(awk -F'\t' '$1=="000.png" && $2=="how many shapes are there?"{print $4}' "$pics/questions.tsv")
[ "$(sed -n 1p <<<"$out")" = "$want_caption" ] || fail "describe-image captioned: $out"
grep -q "^how many shapes are there?	$want_answer	" <<<"$out" || fail "describe-image answered: $out"
echo "install: ok (headers, exported symbols, find_package shared and static, pkg-config, batch service, describe-image)"

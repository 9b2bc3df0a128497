#include "tests/test_util.h"

#include "engine/cpu_isa.h"

#include <heed/error.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "backends/cpu/conv_int8_cpu.h"
#include "engine/backend.h"
#include "engine/half.h"

namespace heed::test {

static double element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::f32: return t.data_as<float>()[i];
    case DType::f16: return f16_to_f32(t.data_as<uint16_t>()[i]);
    case DType::bf16: return bf16_to_f32(t.data_as<uint16_t>()[i]);
    case DType::i32: return t.data_as<int32_t>()[i];
    case DType::i64: return double(t.data_as<int64_t>()[i]);
    case DType::u8: case DType::boolean: return t.data_as<uint8_t>()[i];
    case DType::i8: return t.data_as<int8_t>()[i];
  }
  return 0;
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  if (actual.dtype() != expected.dtype() || !(actual.shape() == expected.shape()))
    return ::testing::AssertionFailure() << "got " << dtype_name(actual.dtype()) << actual.shape().str()
                                         << ", expected " << dtype_name(expected.dtype()) << expected.shape().str();
  bool exact = !is_floating(expected.dtype());
  int64_t bad = 0, first = -1;
  double worst = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    double a = element(actual, i), e = element(expected, i);
    bool ok;
    if (std::isnan(e) || std::isinf(e)) ok = std::isnan(e) ? std::isnan(a) : a == e;
    else ok = exact ? a == e : std::fabs(a - e) <= atol + rtol * std::fabs(e);
    if (!ok) {
      if (first < 0) first = i;
      ++bad;
      worst = std::max(worst, std::fabs(a - e));
    }
  }
  if (!bad) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << fmt::format(
             "{} of {} elements differ (rtol {}, atol {}); first at {}: got {}, expected {}; worst abs diff {}", bad,
             expected.numel(), rtol, atol, first, element(actual, first), element(expected, first), worst);
}

namespace {
// Every test case runs as a process of its own under ctest; directories left
// behind by each of ~1,700 processes once filled a CI machine's disk.
struct TempDirs {
  std::vector<std::filesystem::path> made;
  ~TempDirs() {
    std::error_code ignored;
    for (const auto& dir : made) std::filesystem::remove_all(dir, ignored);
  }
};
TempDirs& temp_dirs() {
  static TempDirs dirs;
  return dirs;
}
}  // namespace

std::string temp_dir() {
  std::random_device rd;
  std::filesystem::path dir;
  do dir = std::filesystem::temp_directory_path() / fmt::format("heed-test-{:x}", rd());
  while (!std::filesystem::create_directories(dir));
  temp_dirs().made.push_back(dir);
  return dir.string();
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string fixture(const std::string& name) { return std::string(HEED_FIXTURES) + "/" + name; }

::testing::AssertionResult throws_error_with(const std::function<void()>& f, const std::string& part) {
  try {
    f();
  } catch (const Error& e) {
    if (std::string(e.what()).find(part) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the error \"" << e.what() << "\" does not contain \"" << part << "\"";
  }
  return ::testing::AssertionFailure() << "no heed::Error thrown (expected one with \"" << part << "\")";
}

::testing::AssertionResult attention_rows_ok(const std::vector<std::vector<float>>& rows, size_t len, bool normalized) {
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].size() != len) return ::testing::AssertionFailure() << "row " << i << " has " << rows[i].size() << " weights, not " << len;
    double sum = 0;
    for (float w : rows[i]) sum += w;
    if (normalized ? std::abs(sum - 1.0) > 1e-4 : !(sum > 0)) return ::testing::AssertionFailure() << "row " << i << " sums to " << sum;
  }
  return ::testing::AssertionSuccess();
}

bool precision_runs_here(Precision p, std::string* why) {
  if (p == Precision::bf16 && cpu_isa() != CpuIsa::avx512) *why = "bf16 needs AVX-512";
  else return true;  // int8: oneDNN with VNNI, else heed's AVX2 kernel
  return false;
}

bool int8_convolutions_in_7_bits() { return cpu::int8_conv_levels() < 127; }

bool cuda_usable(std::string* why) {
  try {
    cuda_backend();
    return true;
  } catch (const Error& e) {
    *why = e.what();
    return false;
  }
}

bool cuda_supports(const std::string& op) { return cuda_backend().supports(op); }

}  // namespace heed::test

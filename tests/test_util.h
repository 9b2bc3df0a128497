#pragma once
// Helpers shared by the tests: comparison against reference tensors, temp files.
#include <heed/model.h>
#include <heed/tensor.h>

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace heed::test {

// |actual - expected| <= atol + rtol * |expected| element-wise; equal for integers
// and bools; NaN matches NaN and infinities match exactly.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol, double atol);

// Passes when f throws heed::Error with `part` in its message.
::testing::AssertionResult throws_error_with(const std::function<void()>& f, const std::string& part);

// Attention rows as generation returns them: each has `len` weights summing to 1
// (within 1e-4), or to something positive when not `normalized`.
::testing::AssertionResult attention_rows_ok(const std::vector<std::vector<float>>& rows, size_t len, bool normalized = true);

// Whether Device::cuda can run here (else `why` says what is missing), and
// whether the CUDA backend has a kernel for `op`.
bool cuda_usable(std::string* why);
// Whether this CPU runs LoadOptions::precision `p` (bf16: AVX-512; int8: any,
// backends/cpu/projection_lowp.cc); else why not. int8 convolutions' weights
// take 7 bits without AVX-512 VNNI (backends/cpu/conv_int8_cpu.h).
bool precision_runs_here(Precision p, std::string* why);
bool int8_convolutions_in_7_bits();
bool cuda_supports(const std::string& op);

// A fresh directory under the system temp dir, removed when the test process exits.
std::string temp_dir();
std::string write_file(const std::string& dir, const std::string& name, const std::string& text);
std::string fixture(const std::string& name);  // path of tests/fixtures/<name>

}  // namespace heed::test

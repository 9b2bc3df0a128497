#pragma once
// Helpers shared by the tests: comparison against reference tensors, temp files.
#include <heed/tensor.h>

#include <string>

#include <gtest/gtest.h>

namespace heed::test {

// |actual - expected| <= atol + rtol * |expected| element-wise; equal for integers
// and bools; NaN matches NaN and infinities match exactly.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double rtol, double atol);

// A fresh directory under the system temp dir, removed at process exit is not promised.
std::string temp_dir();
std::string write_file(const std::string& dir, const std::string& name, const std::string& text);
std::string fixture(const std::string& name);  // path of tests/fixtures/<name>

}  // namespace heed::test

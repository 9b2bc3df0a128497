// Every op case in tests/fixtures/ops.safetensors (written by
// tests/reference/gen_op_fixtures.py from PyTorch) run through heed as a
// one-node graph on each backend and compared within the case's tolerance.
// The CUDA cases skip, saying why, where there is no GPU (or no kernel yet).
#include <heed/model.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include <nlohmann/json.hpp>

#include "engine/cpu_isa.h"
#include "tests/op_cases.h"
#include "tests/test_util.h"

namespace heed {
namespace {

using nlohmann::json;
class OpReference : public ::testing::TestWithParam<json> {};
class OpReferenceCuda : public ::testing::TestWithParam<json> {};

// gemm_dtype f16/bf16 (CUDA tensor cores): tolerances of that dtype, relative to
// the output's largest magnitude.
double gemm_tolerance(DType gemm_dtype) { return gemm_dtype == DType::bf16 ? 4e-2 : gemm_dtype == DType::f16 ? 1e-2 : 0; }

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, double(std::abs(t.data_as<float>()[i])));
  return m;
}

void expect_matches_pytorch(const json& c, Device device, DType gemm_dtype = DType::f32) {
  TensorMap inputs;
  std::string dir = test::temp_dir();
  std::string path = test::write_file(dir, "graph.json", test::op_case_graph(c, inputs).dump());
  LoadOptions options{test::op_fixtures_path()};
  options.device = device;
  options.gemm_dtype = gemm_dtype;
  if (c.contains("precision")) options.precision = precision_from_name(c["precision"].get<std::string>());
  Model model = Model::load(path, options);
  Session session(model, {"", 2});
  for (int repeat = 0; repeat < 2; ++repeat) {  // the second run reuses the bound plan
    TensorMap outputs = session.run(inputs);
    for (const std::string& name : c["outputs"]) {
      const Tensor& want = *test::op_fixtures().find(name);
      const double tol = gemm_tolerance(gemm_dtype);
      EXPECT_TRUE(tol ? test::all_close(outputs.at(name), want, tol, tol * max_abs(want))
                      : test::all_close(outputs.at(name), want, c["rtol"], c["atol"]))
          << c["name"].get<std::string>() << " output " << name << " (run " << repeat << ")";
    }
  }
}

TEST_P(OpReference, MatchesPyTorch) { expect_matches_pytorch(GetParam(), Device::cpu); }

// The cases of LoadOptions::precision (bf16, int8) on the CPU. A CPU without a
// oneDNN kernel for bf16 (AVX2; HEED_CPU_ISA=avx2) refuses the model at load:
// the case checks that refusal and skips, saying so. Without AVX-512 VNNI int8
// convolutions take 7-bit weights: their cases' outputs_7bit then.
class OpReferencePrecision : public ::testing::TestWithParam<json> {};

TEST_P(OpReferencePrecision, MatchesPyTorch) {
  const json& c = GetParam();
  const Precision precision = precision_from_name(c["precision"].get<std::string>());
  TensorMap inputs;
  const std::string path = test::write_file(test::temp_dir(), "graph.json", test::op_case_graph(c, inputs).dump());
  LoadOptions options{test::op_fixtures_path()};
  options.precision = precision;
  if (std::string why; !test::precision_runs_here(precision, &why)) {
    EXPECT_TRUE(test::throws_error_with([&] { Model::load(path, options); }, "precision bf16: oneDNN has no kernel"));
    GTEST_SKIP() << why << ": the model was refused at load, as it should be";
  }
  if (c["op"] == "Conv2d" && precision == Precision::int8) {
    const std::string d = Model::load(path, options).describe();
    EXPECT_NE(d.find("[int8]"), std::string::npos) << d;
    if (test::int8_convolutions_in_7_bits() && c.contains("outputs_7bit")) {
      json seven = c;
      seven["outputs"] = c["outputs_7bit"];
      return expect_matches_pytorch(seven, Device::cpu);
    }
  }
  expect_matches_pytorch(c, Device::cpu);
}

// Keys shared by groups of query rows have no CUDA kernel: refused in one line, never computed.
bool refused_on_cuda(const json& c, DType gemm_dtype = DType::f32) {
  if (!c["name"].get<std::string>().ends_with("_shared_by_rows")) return false;
  EXPECT_TRUE(test::throws_error_with([&] { expect_matches_pytorch(c, Device::cuda, gemm_dtype); },
                                      "on CUDA, key must have the query's batch"));
  return true;
}

TEST_P(OpReferenceCuda, MatchesPyTorch) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  if (!test::cuda_supports(GetParam()["op"])) GTEST_SKIP() << "CUDA: no kernel for " << GetParam()["op"].get<std::string>() << " yet";
  if (!refused_on_cuda(GetParam())) expect_matches_pytorch(GetParam(), Device::cuda);
}

// Linear, MatMul and MultiHeadAttention (its projections and attention GEMMs)
// on CUDA tensor cores, per GEMM dtype.
class OpReferenceCudaHalf : public ::testing::TestWithParam<std::tuple<json, DType>> {};

TEST_P(OpReferenceCudaHalf, MatchesPyTorch) {
  const auto& [c, dtype] = GetParam();
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  if (dtype == DType::f16 && c["name"].get<std::string>().ends_with("_special_rows"))
    GTEST_SKIP() << "inputs of 1e30 are beyond f16's range (65504): f16 rounds them to inf, and the sums are NaN";
  if (!refused_on_cuda(c, dtype)) expect_matches_pytorch(c, Device::cuda, dtype);
}

TEST(OpReferenceGemmDtype, HalfGemmsNeedCuda) {
  TensorMap inputs;
  const json c = test::op_cases().front();
  std::string path = test::write_file(test::temp_dir(), "graph.json", test::op_case_graph(c, inputs).dump());
  LoadOptions options{test::op_fixtures_path()};
  options.gemm_dtype = DType::f16;
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(path, options); }, "gemm_dtype f16 needs device 'cuda'"));
  options.gemm_dtype = DType::i32;
  EXPECT_TRUE(test::throws_error_with([&] { Model::load(path, options); }, "gemm_dtype must be f32, f16 or bf16, got i32"));
}

// The MultiHeadAttention cases were checked against these tolerances without a
// GPU by emulating heed's rounding in PyTorch: all pass in f16 and bf16
// (tests/reference/check_half_mha_tolerance.py).
std::vector<json> gemm_cases() {
  std::vector<json> out;
  for (const json& c : test::op_cases())
    if ((c["op"] == "Linear" || c["op"] == "MatMul" || c["op"] == "MultiHeadAttention") && !c.contains("precision"))
      out.push_back(c);
  return out;
}

// The f32 cases, and those of another precision (LoadOptions::precision).
std::vector<json> cases_in(bool other_precision) {
  std::vector<json> out;
  for (const json& c : test::op_cases())
    if (c.contains("precision") == other_precision) out.push_back(c);
  return out;
}

std::string case_name(const ::testing::TestParamInfo<json>& info) {
  std::string n = info.param["name"];
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(PyTorch, OpReference, ::testing::ValuesIn(cases_in(false)), case_name);
INSTANTIATE_TEST_SUITE_P(PyTorch, OpReferencePrecision, ::testing::ValuesIn(cases_in(true)), case_name);
INSTANTIATE_TEST_SUITE_P(PyTorch, OpReferenceCuda, ::testing::ValuesIn(cases_in(false)), case_name);
INSTANTIATE_TEST_SUITE_P(PyTorch, OpReferenceCudaHalf,
                         ::testing::Combine(::testing::ValuesIn(gemm_cases()), ::testing::Values(DType::f16, DType::bf16)),
                         [](const ::testing::TestParamInfo<std::tuple<json, DType>>& info) {
                           std::string n = std::get<0>(info.param)["name"];
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n + "_" + std::string(dtype_name(std::get<1>(info.param)));
                         });

}  // namespace
}  // namespace heed

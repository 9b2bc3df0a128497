// Every op case in tests/fixtures/ops.safetensors (written by
// tests/reference/gen_op_fixtures.py from PyTorch) run through heed as a
// one-node graph on each backend and compared within the case's tolerance.
// The CUDA cases skip, saying why, where there is no GPU (or no kernel yet).
#include <heed/model.h>

#include <nlohmann/json.hpp>

#include "tests/op_cases.h"
#include "tests/test_util.h"

namespace heed {
namespace {

using nlohmann::json;
class OpReference : public ::testing::TestWithParam<json> {};
class OpReferenceCuda : public ::testing::TestWithParam<json> {};

void expect_matches_pytorch(const json& c, Device device) {
  TensorMap inputs;
  std::string dir = test::temp_dir();
  std::string path = test::write_file(dir, "graph.json", test::op_case_graph(c, inputs).dump());
  LoadOptions options{test::fixture("ops.safetensors")};
  options.device = device;
  Model model = Model::load(path, options);
  Session session(model, {"", 2});
  for (int repeat = 0; repeat < 2; ++repeat) {  // the second run reuses the bound plan
    TensorMap outputs = session.run(inputs);
    for (const std::string& name : c["outputs"])
      EXPECT_TRUE(test::all_close(outputs.at(name), *test::op_fixtures().find(name), c["rtol"], c["atol"]))
          << c["name"].get<std::string>() << " output " << name << " (run " << repeat << ")";
  }
}

TEST_P(OpReference, MatchesPyTorch) { expect_matches_pytorch(GetParam(), Device::cpu); }

TEST_P(OpReferenceCuda, MatchesPyTorch) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  if (!test::cuda_supports(GetParam()["op"])) GTEST_SKIP() << "CUDA: no kernel for " << GetParam()["op"].get<std::string>() << " yet";
  expect_matches_pytorch(GetParam(), Device::cuda);
}

std::string case_name(const ::testing::TestParamInfo<json>& info) {
  std::string n = info.param["name"];
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(PyTorch, OpReference, ::testing::ValuesIn(test::op_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(PyTorch, OpReferenceCuda, ::testing::ValuesIn(test::op_cases()), case_name);

}  // namespace
}  // namespace heed

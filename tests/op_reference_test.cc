// Every op case in tests/fixtures/ops.safetensors (written by
// tests/reference/gen_op_fixtures.py from PyTorch) run through heed as a
// one-node graph and compared within the case's tolerance.
#include <heed/model.h>

#include <nlohmann/json.hpp>

#include "tests/op_cases.h"
#include "tests/test_util.h"

namespace heed {
namespace {

using nlohmann::json;
class OpReference : public ::testing::TestWithParam<json> {};

TEST_P(OpReference, MatchesPyTorch) {
  const json& c = GetParam();
  TensorMap inputs;
  std::string dir = test::temp_dir();
  std::string path = test::write_file(dir, "graph.json", test::op_case_graph(c, inputs).dump());
  Model model = Model::load(path, {test::fixture("ops.safetensors")});
  Session session(model, {"", 2});
  for (int repeat = 0; repeat < 2; ++repeat) {  // the second run reuses the bound plan
    TensorMap outputs = session.run(inputs);
    for (const std::string& name : c["outputs"])
      EXPECT_TRUE(test::all_close(outputs.at(name), *test::op_fixtures().find(name), c["rtol"], c["atol"]))
          << c["name"].get<std::string>() << " output " << name << " (run " << repeat << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(PyTorch, OpReference, ::testing::ValuesIn(test::op_cases()),
                         [](const ::testing::TestParamInfo<json>& info) {
                           std::string n = info.param["name"];
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace heed

// ONNX's own node test cases (Debian's libonnx-testdata: one model.onnx per
// case, inputs and expected outputs as serialized TensorProtos) through the
// importer. Every case either passes (ONNX's tolerances: rtol 1e-3, atol 1e-7,
// as onnx.backend.test uses), or is refused at load with one heed::Error line:
// never a wrong answer, a crash or another exception. The cases that pass are listed in
// tests/fixtures/onnx_node_passing.txt; each of them must keep passing.
//
// HEED_ONNX_NODE_REPORT=FILE writes every case's result (docs/onnx.md's table
// is made from it); HEED_ONNX_NODE_RECORD=1 rewrites the passing list.
#include <gtest/gtest.h>

#include <heed/error.h>
#include <heed/model.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "engine/file_io.h"
#include "loaders/onnx/onnx_file.h"
#include "tests/test_util.h"

namespace heed {
namespace {
namespace fs = std::filesystem;

// HEED_ONNX_NODE_DATA overrides it (bench/gpu.sh carries the cases to a GPU machine).
std::string node_tests_dir() {
  const char* dir = std::getenv("HEED_ONNX_NODE_DATA");
  return dir ? dir : "/usr/share/libonnx-testdata/data/node";
}

Tensor read_pb(const fs::path& file) {
  std::string bytes = read_text_file(file.string());
  onnx_import::TensorProto t = onnx_import::parse_tensor(bytes, file.string());
  return onnx_import::tensor_from_proto(t, file.parent_path().string(), file.string());  // a copy: `bytes` goes
}

// "" when the case passes; otherwise why not, on one line.
std::string run_case(const fs::path& dir, Device device = Device::cpu) {
  LoadOptions options;
  options.device = device;
  Model model = Model::load((dir / "model.onnx").string(), options);
  std::vector<ValueInfo> inputs = model.inputs(), outputs = model.outputs();
  for (const auto& set : fs::directory_iterator(dir)) {
    if (!set.is_directory()) continue;
    TensorMap feed;
    for (size_t i = 0; i < inputs.size(); ++i)
      feed[inputs[i].name] = read_pb(set.path() / fmt::format("input_{}.pb", i));
    Session session(model);
    TensorMap got = session.run(feed);
    for (size_t i = 0; i < outputs.size(); ++i) {
      Tensor want = read_pb(set.path() / fmt::format("output_{}.pb", i));
      ::testing::AssertionResult same = test::all_close(got.at(outputs[i].name), want, 1e-3, 1e-7);
      if (!same) return fmt::format("output {} differs: {}", outputs[i].name, same.message());
      if (got.at(outputs[i].name).shape() != want.shape())
        return fmt::format("output {} is {}, expected {}", outputs[i].name, got.at(outputs[i].name).shape().str(),
                           want.shape().str());
    }
  }
  return "";
}

std::set<std::string> passing_list() {
  std::set<std::string> names;
  std::ifstream in(test::fixture("onnx_node_passing.txt"));
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') names.insert(line);
  return names;
}

TEST(OnnxNodeTests, ListedCasesPassAndNoCaseCrashes) {
  const std::string cases = node_tests_dir();
  if (!fs::is_directory(cases)) GTEST_SKIP() << cases << " is missing (Debian's libonnx-testdata; ./dev.sh installs it)";
  std::map<std::string, std::string> results;  // case -> "" (passed) or why not
  for (const auto& entry : fs::directory_iterator(cases)) {
    const std::string name = entry.path().filename().string();
    try {
      results[name] = run_case(entry.path());
      // A model heed loads and runs must give ONNX's answers: anything else is refused at load.
      if (!results[name].empty()) ADD_FAILURE() << name << ": a wrong answer, not a refusal: " << results[name];
    } catch (const Error& e) {
      std::string why = e.what();
      if (why.find('\n') != std::string::npos) ADD_FAILURE() << name << ": a multi-line error: " << why;
      results[name] = why;
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": not a heed::Error: " << e.what();
    }
  }
  int passed = 0;
  for (const auto& [name, why] : results) passed += why.empty();
  std::set<std::string> listed = passing_list();
  for (const std::string& name : listed)
    EXPECT_EQ(results.count(name) ? results[name] : "missing", "") << name << " is listed as passing";
  if (const char* report = std::getenv("HEED_ONNX_NODE_REPORT")) {
    std::ofstream out(report);
    for (const auto& [name, why] : results) out << name << '\t' << (why.empty() ? "passed" : why) << '\n';
  }
  if (std::getenv("HEED_ONNX_NODE_RECORD")) {
    std::ofstream out(test::fixture("onnx_node_passing.txt"));
    out << "# ONNX node test cases (libonnx-testdata 1.12) heed passes; tests/onnx_node_test.cc\n";
    for (const auto& [name, why] : results)
      if (why.empty()) out << name << '\n';
  }
  std::cout << fmt::format("ONNX node tests: {} of {} cases pass ({} listed)\n", passed, results.size(), listed.size());
}

// Every case that passes on the CPU passes on the GPU too: each op the importer
// emits has a CUDA kernel.
TEST(OnnxNodeTestsCuda, ListedCasesPassOnTheGpu) {
  std::string why;
  if (!test::cuda_usable(&why)) GTEST_SKIP() << "CUDA: " << why;
  const std::string cases = node_tests_dir();
  if (!fs::is_directory(cases)) GTEST_SKIP() << cases << " is missing (Debian's libonnx-testdata; ./dev.sh installs it)";
  int passed = 0;
  const std::set<std::string> listed = passing_list();
  for (const std::string& name : listed) {
    std::string result;
    try {
      result = run_case(fs::path(cases) / name, Device::cuda);
    } catch (const std::exception& e) {
      result = e.what();
    }
    EXPECT_EQ(result, "") << name;
    passed += result.empty();
  }
  std::cout << fmt::format("ONNX node tests on CUDA: {} of the {} listed cases pass\n", passed, listed.size());
}

}  // namespace
}  // namespace heed

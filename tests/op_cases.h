#pragma once
// The op cases of tests/fixtures/ops.safetensors (tests/reference/gen_op_fixtures.py)
// and the one-node graph that runs a case.
#include <heed/model.h>

#include <nlohmann/json.hpp>

#include "engine/safetensors.h"

namespace heed::test {

// ops.safetensors with the inputs its "seeded" metadata lists generated
// (tests/seeded_weights.cc), written once to a temp file: the weights file of op-case models.
const std::string& op_fixtures_path();
const SafetensorsFile& op_fixtures();
std::vector<nlohmann::json> op_cases();
const nlohmann::json& op_case(const std::string& name);
// Parameters for weight inputs, graph inputs (added to `inputs`) for the rest.
nlohmann::json op_case_graph(const nlohmann::json& c, TensorMap& inputs);

}  // namespace heed::test

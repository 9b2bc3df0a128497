// A steady-state run allocates nothing in heed's own code: the plan, arena and
// invocations are built on the first run for a shape and reused. (oneDNN's
// execute builds an argument map internally, so the graph here uses the ops heed
// implements itself.)
#include <heed/model.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "tests/test_util.h"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The nothrow form too (std::stable_sort's buffer): its memory is freed by the
// delete below, so it must come from malloc as well (AddressSanitizer reports
// the mismatch otherwise).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (counting) ++allocations;
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace heed {
namespace {

TEST(Allocation, SteadyStateRunAllocatesNothing) {
  const char* graph = R"({"format": "heed.graph", "version": 1, "graphs": {"main": {
    "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", 6, 4]}, {"name": "ids", "dtype": "i64", "shape": [3]}],
    "outputs": ["best", "y"],
    "nodes": [
      {"name": "t", "op": "Transpose", "inputs": ["x"], "outputs": ["xt"], "attrs": {"perm": [0, 2, 1]}},
      {"name": "c", "op": "Concat", "inputs": ["xt", "xt"], "outputs": ["cc"], "attrs": {"axis": 1}},
      {"name": "r", "op": "Reshape", "inputs": ["cc"], "outputs": ["flat"], "attrs": {"shape": [0, -1]}},
      {"name": "g", "op": "Gather", "inputs": ["x", "ids"], "outputs": ["gx"], "attrs": {"axis": 1}},
      {"name": "s", "op": "Slice", "inputs": ["gx"], "outputs": ["y"], "attrs": {"starts": [1], "ends": [3], "axes": [2]}},
      {"name": "a", "op": "ArgMax", "inputs": ["flat"], "outputs": ["best"]}]}}})";
  std::string path = test::write_file(test::temp_dir(), "g.json", graph);
  Model model = Model::load(path);
  Session session(model, {"", 2});
  TensorMap inputs = {{"x", Tensor::zeros(DType::f32, {2, 6, 4})}, {"ids", Tensor::zeros(DType::i64, {3})}};
  TensorMap outputs;
  session.run(inputs, outputs);  // first run: plan, arena, invocations
  allocations = 0;
  counting = true;
  for (int i = 0; i < 10; ++i) session.run(inputs, outputs);
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
}

}  // namespace
}  // namespace heed

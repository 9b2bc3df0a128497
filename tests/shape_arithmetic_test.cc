// Shape arithmetic in the shape rules (ops/elements.h): the elements of small
// integer tensors, symbolic at load and exact once a session binds its shapes.
#include <gtest/gtest.h>

#include <heed/model.h>

#include "engine/validate.h"
#include "tests/test_util.h"

namespace heed {
namespace {

using ir::Dim;
using ir::Element;
using ir::Elements;
using ir::ValueType;

// The output types of one node of `op` over `inputs`.
std::vector<ValueType> infer(const std::string& op, const std::vector<ValueType>& inputs,
                             std::map<std::string, ir::AttrValue> attrs = {}, size_t outputs = 1) {
  ir::Node n{"n", op, {}, {}, std::move(attrs)};
  std::vector<const ValueType*> in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    n.inputs.push_back("in" + std::to_string(i));
    in.push_back(&inputs[i]);
  }
  for (size_t i = 0; i < outputs; ++i) n.outputs.push_back("out" + std::to_string(i));
  static const ir::Graph g{.name = "main"};
  return ir::infer_node(g, n, in);
}

ValueType ints(std::vector<int64_t> v) {
  Elements e;
  for (int64_t x : v) e.push_back(Element::of(x));
  return {DType::i64, {Dim::known(int64_t(v.size()))}, e};
}

const ValueType kX{DType::f32, {Dim::symbol("batch"), Dim::symbol("seq"), Dim::known(8)}};

TEST(ShapeArithmetic, ShapeGivesTheDimsSymbolicOrKnown) {
  ValueType s = infer("Shape", {kX})[0];
  ASSERT_TRUE(s.elements);
  EXPECT_EQ(*s.elements, (Elements{Element::of(Dim::symbol("batch")), Element::of(Dim::symbol("seq")),
                                   Element::of(8)}));
  EXPECT_EQ(*infer("Shape", {kX}, {{"start", int64_t(-1)}})[0].elements, Elements{Element::of(8)});
}

// x.view(x.size(0), x.size(1), 2, 4) as exporters write it.
TEST(ShapeArithmetic, GatherUnsqueezeConcatReshapeKeepTheDims) {
  ValueType s = infer("Shape", {kX})[0];
  ValueType seq = infer("Gather", {s, {DType::i64, {}, Elements{Element::of(1)}}})[0];
  EXPECT_EQ(seq.elements->at(0).sym, "seq");
  ValueType seq1 = infer("Unsqueeze", {seq}, {{"axes", std::vector<int64_t>{0}}})[0];
  ValueType batch1 = infer("Slice", {s}, {{"starts", std::vector<int64_t>{0}}, {"ends", std::vector<int64_t>{1}}})[0];
  ValueType target = infer("Concat", {batch1, seq1, ints({2, 4})}, {{"axis", int64_t(0)}})[0];
  ValueType y = infer("Reshape", {kX, target})[0];
  EXPECT_EQ(ir::shape_str(y.shape), "[batch, seq, 2, 4]");
}

// A -1 between symbolic shapes is known when the named dims cancel: [batch, seq, 8]
// -> [batch, seq, -1, 4] splits 8 into 2 heads of 4, whatever batch and seq are.
TEST(ShapeArithmetic, MinusOneIsInferredWhenTheNamedDimsCancel) {
  auto reshaped = [](std::vector<int64_t> spec) {
    return ir::shape_str(infer("Reshape", {kX}, {{"shape", std::move(spec)}})[0].shape);
  };
  EXPECT_EQ(reshaped({0, 0, -1, 4}), "[batch, seq, 2, 4]");
  EXPECT_EQ(reshaped({0, -1}), "[batch, ?]");      // seq * 8: not a dim the rules can name
  EXPECT_EQ(reshaped({-1, 8}), "[?, 8]");          // batch * seq
  EXPECT_EQ(reshaped({-1, 0, 8}), "[batch, seq, 8]");  // input_ids.view(-1, seq) as GPT-2 writes it
  EXPECT_EQ(reshaped({0, 0, 3, -1}), "[batch, seq, 3, ?]");  // 8 / 3: left for the run to refuse
  ValueType unnamed{DType::f32, {Dim::symbol("batch"), Dim{}, Dim::known(8)}};
  EXPECT_EQ(ir::shape_str(infer("Reshape", {unnamed}, {{"shape", std::vector<int64_t>{0, 0, -1, 4}}})[0].shape),
            "[batch, ?, ?, 4]");  // an unknown dim is not known equal to itself
}

// Where(Equal(shape, -1), 1, shape): a dim is never negative, so the test is known.
TEST(ShapeArithmetic, ComparingADimWithANegativeNumberIsKnown) {
  ValueType s = infer("Shape", {kX})[0];
  ValueType eq = infer("Equal", {s, ints({-1, -1, -1})})[0];
  EXPECT_EQ(*eq.elements, (Elements{Element::of(0), Element::of(0), Element::of(0)}));
  EXPECT_EQ(infer("Greater", {s, ints({-1})})[0].elements->at(0), Element::of(1));
  EXPECT_EQ(infer("LessOrEqual", {s, s})[0].elements->at(1), Element::of(1));
  ValueType picked = infer("Where", {eq, ints({1, 1, 1}), s})[0];
  EXPECT_EQ(*picked.elements, *s.elements);
  // A dim against a non-negative number is not known until the shapes are bound.
  EXPECT_FALSE(infer("Equal", {s, ints({4})})[0].elements->at(0).known);
}

TEST(ShapeArithmetic, ArithmeticKeepsWhatItCanAndForgetsTheRest) {
  ValueType s = infer("Shape", {kX})[0];
  EXPECT_EQ(infer("Add", {s, ints({0})})[0].elements->at(0).sym, "batch");
  EXPECT_EQ(infer("Mul", {s, ints({1})})[0].elements->at(1).sym, "seq");
  EXPECT_EQ(infer("Sub", {s, s})[0].elements->at(0), Element::of(0));
  EXPECT_EQ(infer("Mul", {s, ints({3})})[0].elements->at(2), Element::of(24));
  Element unknown = infer("Add", {s, ints({1})})[0].elements->at(0);
  EXPECT_FALSE(unknown.known);
  EXPECT_TRUE(unknown.sym.empty());
  // Overflow forgets rather than wraps.
  EXPECT_FALSE(infer("Mul", {ints({int64_t(1) << 62}), ints({4})})[0].elements->at(0).known);
}

TEST(ShapeArithmetic, ACopiedTypeDoesNotCarryElementsThroughOtherOps) {
  EXPECT_FALSE(infer("Not", {{DType::boolean, {Dim::known(1)}, Elements{Element{}}}})[0].elements->at(0).known);
  EXPECT_FALSE(infer("Relu", {{DType::f32, {Dim::known(1)}, Elements{Element::of(3)}}})[0].elements);
}

TEST(ShapeArithmetic, RangeAndConstantOfShapeAreShapedByTheirOperands) {
  ValueType scalar5{DType::i64, {}, Elements{Element::of(5)}}, scalar1{DType::i64, {}, Elements{Element::of(1)}},
      scalar0{DType::i64, {}, Elements{Element::of(0)}};
  EXPECT_EQ(ir::shape_str(infer("Range", {scalar0, scalar5, scalar1})[0].shape), "[5]");
  ValueType seq{DType::i64, {}, Elements{Element::of(Dim::symbol("seq"))}};
  EXPECT_EQ(ir::shape_str(infer("Range", {scalar0, seq, scalar1})[0].shape), "[?]");
  ValueType s = infer("Shape", {kX})[0];
  EXPECT_EQ(ir::shape_str(infer("ConstantOfShape", {s})[0].shape), "[batch, seq, 8]");
  EXPECT_TRUE(test::throws_error_with([&] { infer("Range", {scalar0, scalar5, scalar0}); }, "delta is 0"));
}

// A graph computing a Reshape target from its input's shape runs at two shapes in one session.
TEST(ShapeArithmetic, ASessionPlansEachShapeFromTheGraphsArithmetic) {
  const std::string graph = R"({"format": "heed.graph", "version": 1, "graphs": {"main": {
    "inputs": [{"name": "x", "dtype": "f32", "shape": ["batch", "seq", 8]}],
    "constants": [{"name": "one", "dtype": "i64", "shape": [], "data": [1]},
                  {"name": "tail", "dtype": "i64", "shape": [2], "data": [4, 2]}],
    "nodes": [
      {"name": "shape", "op": "Shape", "inputs": ["x"], "outputs": ["shape"]},
      {"name": "seq", "op": "Gather", "inputs": ["shape", "one"], "outputs": ["seq"]},
      {"name": "seq1", "op": "Unsqueeze", "inputs": ["seq"], "outputs": ["seq1"], "attrs": {"axes": [0]}},
      {"name": "batch1", "op": "Slice", "inputs": ["shape"], "outputs": ["batch1"], "attrs": {"starts": [0], "ends": [1]}},
      {"name": "target", "op": "Concat", "inputs": ["batch1", "tail", "seq1"], "outputs": ["target"], "attrs": {"axis": 0}},
      {"name": "y", "op": "Reshape", "inputs": ["x", "target"], "outputs": ["y"]},
      {"name": "positions", "op": "Range", "inputs": ["one", "seq", "one"], "outputs": ["positions"]}],
    "outputs": ["y", "positions"]}}})";
  Session session(Model::load(test::write_file(test::temp_dir(), "arithmetic.json", graph)));
  for (int64_t seq : {3, 6}) {
    Tensor x = Tensor::empty(DType::f32, Shape{2, seq, 8});
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = float(i);
    TensorMap out = session.run({{"x", x}});
    EXPECT_EQ(out.at("y").shape(), (Shape{2, 4, 2, seq}));
    EXPECT_EQ(out.at("y").data_as<float>()[x.numel() - 1], float(x.numel() - 1));
    ASSERT_EQ(out.at("positions").shape(), (Shape{seq - 1}));
    EXPECT_EQ(out.at("positions").data_as<int64_t>()[0], 1);
    EXPECT_EQ(out.at("positions").data_as<int64_t>()[seq - 2], seq - 1);
  }
}

}  // namespace
}  // namespace heed

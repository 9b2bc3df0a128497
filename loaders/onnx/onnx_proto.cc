// A protobuf wire-format reader for the ONNX messages in onnx_proto.h. Unknown
// fields are skipped, as protobuf does; repeated scalars are read packed or
// not; lengths are checked against what is left, so a truncated or hostile
// file is an error naming the byte, never a read past the end.
#include "loaders/onnx/onnx_proto.h"

#include <heed/error.h>

#include <cstring>

#include <fmt/format.h>

namespace heed::onnx_import {
namespace {

enum Wire { kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5 };

class Reader {
 public:
  Reader(std::string_view bytes, const std::string& source, size_t base = 0)
      : p_(bytes), source_(source), base_(base) {}
  bool done() const { return at_ >= p_.size(); }

  // The next field's number and wire type.
  std::pair<uint32_t, int> tag() {
    uint64_t t = varint();
    int wire = int(t & 7);
    if (t >> 3 == 0 || t >> 3 > 0x1fffffff || (wire != kVarint && wire != kFixed64 && wire != kLength && wire != kFixed32))
      fail(fmt::format("bad field tag {}", t));
    return {uint32_t(t >> 3), wire};
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) fail("truncated varint");
      uint8_t b = uint8_t(p_[at_++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }
  template <typename T>
  T fixed() {
    if (p_.size() - at_ < sizeof(T)) fail("truncated fixed-width value");
    T v;
    std::memcpy(&v, p_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  std::string_view bytes() {
    uint64_t n = varint();
    if (n > p_.size() - at_) fail(fmt::format("a field of {} bytes runs past the end ({} left)", n, p_.size() - at_));
    std::string_view v = p_.substr(at_, size_t(n));
    at_ += size_t(n);
    return v;
  }
  Reader sub() {  // the length-delimited message that comes next
    std::string_view b = bytes();
    return Reader(b, source_, base_ + size_t(b.data() - p_.data()));
  }
  void skip(int wire) {
    if (wire == kVarint) varint();
    else if (wire == kFixed64) fixed<uint64_t>();
    else if (wire == kFixed32) fixed<uint32_t>();
    else bytes();
  }
  int64_t int64(int wire) {
    expect(wire, kVarint);
    return int64_t(varint());
  }
  std::string string(int wire) {
    expect(wire, kLength);
    return std::string(bytes());
  }
  // A repeated scalar: packed (one length-delimited run) or one value per tag.
  template <typename T, typename Read>
  void repeated(int wire, int element_wire, std::vector<T>& out, Read read) {
    if (wire == kLength) {
      Reader run = sub();
      while (!run.done()) out.push_back(read(run));
      return;
    }
    expect(wire, element_wire);
    out.push_back(read(*this));
  }
  void expect(int wire, int want) {
    if (wire != want) fail(fmt::format("wire type {} where {} was expected", wire, want));
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("{}: not a valid ONNX model: {} at byte {}", source_, what, base_ + at_));
  }

 private:
  std::string_view p_;
  const std::string& source_;
  size_t base_ = 0, at_ = 0;
};

int64_t read_varint64(Reader& r) { return int64_t(r.varint()); }
int32_t read_varint32(Reader& r) { return int32_t(r.varint()); }
float read_float(Reader& r) { return r.fixed<float>(); }
double read_double(Reader& r) { return r.fixed<double>(); }

std::pair<std::string, std::string> read_entry(Reader r) {
  std::pair<std::string, std::string> e;
  while (!r.done()) {
    auto [field, wire] = r.tag();
    if (field == 1) e.first = r.string(wire);
    else if (field == 2) e.second = r.string(wire);
    else r.skip(wire);
  }
  return e;
}

TensorProto read_tensor(Reader r) {
  TensorProto t;
  while (!r.done()) {
    auto [field, wire] = r.tag();
    switch (field) {
      case 1: r.repeated(wire, kVarint, t.dims, read_varint64); break;
      case 2: t.data_type = int32_t(r.int64(wire)); break;
      case 4: r.repeated(wire, kFixed32, t.float_data, read_float); break;
      case 5: r.repeated(wire, kVarint, t.int32_data, read_varint32); break;
      case 7: r.repeated(wire, kVarint, t.int64_data, read_varint64); break;
      case 8: t.name = r.string(wire); break;
      case 9:
        r.expect(wire, kLength);
        t.raw_data = r.bytes(), t.has_raw_data = true;
        break;
      case 10: r.repeated(wire, kFixed64, t.double_data, read_double); break;
      case 13:
        r.expect(wire, kLength);
        t.external_data.push_back(read_entry(r.sub()));
        break;
      case 14: t.external = r.int64(wire) == 1; break;
      default: r.skip(wire);
    }
  }
  return t;
}

AttributeProto read_attribute(Reader r) {
  AttributeProto a;
  while (!r.done()) {
    auto [field, wire] = r.tag();
    switch (field) {
      case 1: a.name = r.string(wire); break;
      case 20: a.type = int32_t(r.int64(wire)); break;
      case 2:
        r.expect(wire, kFixed32);
        a.f = r.fixed<float>();
        break;
      case 3: a.i = r.int64(wire); break;
      case 4: a.s = r.string(wire); break;
      case 5:
        r.expect(wire, kLength);
        a.t = std::make_shared<TensorProto>(read_tensor(r.sub()));
        break;
      case 7: r.repeated(wire, kFixed32, a.floats, read_float); break;
      case 8: r.repeated(wire, kVarint, a.ints, read_varint64); break;
      case 9: a.strings.push_back(r.string(wire)); break;
      default: r.skip(wire);  // graphs (If, Loop) and the rest: refused by the op that would need them
    }
  }
  return a;
}

NodeProto read_node(Reader r) {
  NodeProto n;
  while (!r.done()) {
    auto [field, wire] = r.tag();
    switch (field) {
      case 1: n.input.push_back(r.string(wire)); break;
      case 2: n.output.push_back(r.string(wire)); break;
      case 3: n.name = r.string(wire); break;
      case 4: n.op_type = r.string(wire); break;
      case 5:
        r.expect(wire, kLength);
        n.attribute.push_back(read_attribute(r.sub()));
        break;
      case 7: n.domain = r.string(wire); break;
      default: r.skip(wire);
    }
  }
  return n;
}

void read_shape(Reader r, ValueInfoProto& v) {
  v.has_shape = true;
  while (!r.done()) {
    auto [field, wire] = r.tag();
    if (field != 1) {
      r.skip(wire);
      continue;
    }
    r.expect(wire, kLength);
    Reader d = r.sub();
    Dimension dim;
    while (!d.done()) {
      auto [f, w] = d.tag();
      if (f == 1) dim.value = d.int64(w), dim.has_value = true;
      else if (f == 2) dim.param = d.string(w);
      else d.skip(w);
    }
    v.dims.push_back(std::move(dim));
  }
}

void read_type(Reader r, ValueInfoProto& v) {
  while (!r.done()) {
    auto [field, wire] = r.tag();
    if (field != 1) {  // sequences, maps, optionals: not tensors
      r.skip(wire);
      continue;
    }
    r.expect(wire, kLength);
    v.is_tensor = true;
    Reader t = r.sub();
    while (!t.done()) {
      auto [f, w] = t.tag();
      if (f == 1) v.elem_type = int32_t(t.int64(w));
      else if (f == 2 && w == kLength) read_shape(t.sub(), v);
      else t.skip(w);
    }
  }
}

ValueInfoProto read_value_info(Reader r) {
  ValueInfoProto v;
  while (!r.done()) {
    auto [field, wire] = r.tag();
    if (field == 1) v.name = r.string(wire);
    else if (field == 2 && wire == kLength) read_type(r.sub(), v);
    else r.skip(wire);
  }
  return v;
}

GraphProto read_graph(Reader r) {
  GraphProto g;
  while (!r.done()) {
    auto [field, wire] = r.tag();
    if (field == 2) {
      g.name = r.string(wire);
      continue;
    }
    if (field != 1 && field != 5 && field != 11 && field != 12) {
      r.skip(wire);
      continue;
    }
    r.expect(wire, kLength);
    Reader m = r.sub();
    if (field == 1) g.node.push_back(read_node(m));
    else if (field == 5) g.initializer.push_back(read_tensor(m));
    else (field == 11 ? g.input : g.output).push_back(read_value_info(m));
  }
  return g;
}

}  // namespace

ModelProto parse_model(std::string_view bytes, const std::string& source) {
  Reader r(bytes, source);
  ModelProto m;
  while (!r.done()) {
    auto [field, wire] = r.tag();
    switch (field) {
      case 1: m.ir_version = r.int64(wire); break;
      case 2: m.producer_name = r.string(wire); break;
      case 3: m.producer_version = r.string(wire); break;
      case 7:
        r.expect(wire, kLength);
        m.graph = read_graph(r.sub()), m.has_graph = true;
        break;
      case 8: {
        r.expect(wire, kLength);
        Reader o = r.sub();
        std::pair<std::string, int64_t> set;
        while (!o.done()) {
          auto [f, w] = o.tag();
          if (f == 1) set.first = o.string(w);
          else if (f == 2) set.second = o.int64(w);
          else o.skip(w);
        }
        m.opset_import.push_back(set);
        break;
      }
      default: r.skip(wire);
    }
  }
  return m;
}

TensorProto parse_tensor(std::string_view bytes, const std::string& source) {
  return read_tensor(Reader(bytes, source));
}

std::string elem_type_name(int32_t t) {
  static const char* names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
                                "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128",
                                "BFLOAT16"};
  return t >= 0 && t < int32_t(std::size(names)) ? names[t] : "unknown";
}

}  // namespace heed::onnx_import

#include "engine/safetensors.h"

#include <heed/error.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/file_io.h"
#include "engine/json_text.h"
#include "engine/mapped_file.h"

namespace heed {
namespace {

using json = nlohmann::json;
constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

const std::map<std::string, DType>& loadable_dtypes() {
  static const std::map<std::string, DType> m = {
      {"F32", DType::f32}, {"F16", DType::f16}, {"BF16", DType::bf16}, {"I32", DType::i32},
      {"I64", DType::i64}, {"U8", DType::u8},   {"BOOL", DType::boolean}, {"I8", DType::i8}};
  return m;
}

bool known_but_unsupported(const std::string& d) {
  static const std::set<std::string> s = {"F64", "I16", "U16", "U32", "U64", "F8_E5M2",
                                          "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};
  return s.count(d) > 0;
}

class HeaderParser {
 public:
  HeaderParser(std::string path) : path_(std::move(path)) {}
  [[noreturn]] void fail(const std::string& what) const { throw Error(fmt::format("{}: {}", path_, what)); }
  [[noreturn]] void fail(const std::string& tensor, const std::string& what) const {
    throw Error(fmt::format("{}: tensor '{}': {}", path_, tensor, what));
  }

  json parse(const char* text, size_t size) const {
    json header = parse_json_text(std::string_view(text, size), path_ + ": header");
    if (!header.is_object()) fail("header is not a JSON object");
    return header;
  }

  Entry entry(const std::string& name, const json& info) const {
    if (!info.is_object()) fail(name, "header entry is not an object");
    for (auto it = info.begin(); it != info.end(); ++it)
      if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
        fail(name, fmt::format("unknown key '{}'", it.key()));
    if (!info.contains("dtype") || !info["dtype"].is_string()) fail(name, "missing or invalid 'dtype'");
    std::string dt = info["dtype"];
    auto it = loadable_dtypes().find(dt);
    if (it == loadable_dtypes().end())
      fail(name, known_but_unsupported(dt) ? fmt::format("dtype {} is not supported by heed", dt)
                                           : fmt::format("unknown dtype '{}'", dt));
    Entry e{name, it->second, {}, 0, 0};
    if (!info.contains("shape") || !info["shape"].is_array()) fail(name, "missing or invalid 'shape'");
    if (info["shape"].size() > size_t(Shape::kMaxRank))
      fail(name, fmt::format("rank {} exceeds heed's maximum {}", info["shape"].size(), Shape::kMaxRank));
    uint64_t bytes = dtype_size(e.dtype);
    for (const json& d : info["shape"]) {
      if (!d.is_number_unsigned()) fail(name, "shape entries must be non-negative integers");
      uint64_t v = d.get<uint64_t>();
      if (v > uint64_t(INT64_MAX) || (v && bytes > UINT64_MAX / v)) fail(name, "shape overflows");
      bytes *= v;
      e.shape.push_back(int64_t(v));
    }
    const json& off = info.contains("data_offsets") ? info["data_offsets"] : json();
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(name, "'data_offsets' must be [begin, end] with non-negative integers");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.end < e.begin) fail(name, fmt::format("data_offsets [{}, {}] end before they begin", e.begin, e.end));
    if (e.end - e.begin != bytes)
      fail(name, fmt::format("data_offsets span {} bytes but {} {} needs {}", e.end - e.begin,
                             dt, e.shape.str(), bytes));
    return e;
  }

 private:
  std::string path_;
};

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

SafetensorsFile read_model_weights(const std::string& dir, const std::string& what) {
  const std::string path = dir + "/model.safetensors";
  if (!std::filesystem::exists(path)) throw Error(fmt::format("{}: missing (the {})", path, what));
  return read_safetensors(path);
}

SafetensorsFile read_safetensors(const std::string& path) {
  auto file = MappedFile::open(path);
  HeaderParser p(path);
  if (file->size() < 8) p.fail(fmt::format("file is {} bytes, too small for a safetensors header", file->size()));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file->data()[i];
  // The length itself is not printed: in a file that is not safetensors these
  // are its first 8 bytes, and an error must not show a file's contents.
  if (n > kMaxHeaderBytes) p.fail("not a safetensors file (its header length field exceeds the 100 MB limit)");
  if (n > file->size() - 8) p.fail(fmt::format("not a safetensors file (its header length field runs past the end of the {}-byte file)", file->size()));
  const char* text = reinterpret_cast<const char*>(file->data() + 8);
  if (n == 0 || text[0] != '{') p.fail("header does not start with '{'");
  json header = p.parse(text, n);

  SafetensorsFile out;
  out.path = path;
  out.mapping = file;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) p.fail("__metadata__ must be an object of strings");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) p.fail(fmt::format("__metadata__ entry '{}' is not a string", m.key()));
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(p.entry(it.key(), it.value()));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t data_size = file->size() - 8 - n, expected = 0;
  for (const Entry& e : entries) {
    if (e.begin != expected)
      p.fail(e.name, e.begin < expected ? fmt::format("data_offsets [{}, {}] overlap the previous tensor", e.begin, e.end)
                                        : fmt::format("data_offsets begin at {}, leaving a gap after byte {}", e.begin, expected));
    if (e.end > data_size)
      p.fail(e.name, fmt::format("data_offsets [{}, {}] run past the {} data bytes in the file", e.begin, e.end, data_size));
    expected = e.end;
  }
  if (expected != data_size)
    p.fail(fmt::format("{} trailing bytes after the last tensor", data_size - expected));

  const unsigned char* base = file->data() + 8 + n;
  for (const Entry& e : entries) {
    const unsigned char* ptr = base + e.begin;
    bool aligned = reinterpret_cast<uintptr_t>(ptr) % dtype_size(e.dtype) == 0;
    Tensor t = aligned ? Tensor::view(e.dtype, e.shape, const_cast<unsigned char*>(ptr), file)
                       : Tensor::copy_of(e.dtype, e.shape, ptr);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

std::string safetensors_dtype(DType dtype) {
  for (const auto& [name, d] : loadable_dtypes())
    if (d == dtype) return name;
  return "?";
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    header[name] = {{"dtype", safetensors_dtype(t.dtype())},
                    {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned, as the reference does
  write_file_atomically(path, [&](std::ostream& f) {
    uint64_t n = text.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = (n >> (8 * i)) & 0xff;
    f.write(reinterpret_cast<const char*>(len), 8);
    f.write(text.data(), std::streamsize(n));
    for (const auto& [name, t] : tensors) f.write(static_cast<const char*>(t.data()), std::streamsize(t.nbytes()));
  });
}

}  // namespace heed

// The safetensors reader against a corpus of malformed files, each expecting its
// own one-line error naming the file (and tensor), plus round trips.
#include <heed/error.h>

#include <cstring>

#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace heed {
namespace {

std::string with_length(uint64_t n, const std::string& rest) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((n >> (8 * i)) & 0xff);
  return s + rest;
}

std::string st_file(const std::string& header, const std::string& data) {
  return with_length(header.size(), header) + data;
}

struct BadFile {
  const char* name;
  std::string bytes;
  const char* error;  // expected substring
};

std::vector<BadFile> corpus() {
  std::string f8(8, '\0');
  return {
      {"tiny", "abc", "too small for a safetensors header"},
      {"huge_header", with_length(200'000'000, "{}"), "header length field exceeds the 100 MB limit"},
      {"header_past_end", with_length(50, "{}"), "runs past the end"},
      {"not_an_object", st_file("[1, 2]", ""), "does not start with '{'"},
      {"bad_json", st_file("{\"a\": ", ""), "header: invalid JSON at byte 7"},
      {"bad_utf8", st_file("{\"\xff\xfe\": 1}", ""), "header: invalid JSON at byte 3: syntax error"},
      {"unknown_dtype", st_file(R"({"w":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}})", f8), "tensor 'w': unknown dtype 'F99'"},
      {"unsupported_dtype", st_file(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", f8), "tensor 'w': dtype F64 is not supported"},
      {"negative_dim", st_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f8), "tensor 'w': shape entries must be non-negative"},
      {"missing_offsets", st_file(R"({"w":{"dtype":"F32","shape":[2]}})", f8), "tensor 'w': 'data_offsets' must be"},
      {"reversed_offsets", st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f8), "end before they begin"},
      {"wrong_span", st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", f8.substr(4)), "span 4 bytes but F32 [2] needs 8"},
      {"gap", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", std::string(12, '\0')), "tensor 'b': data_offsets begin at 8, leaving a gap"},
      {"overlap", st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f8), "overlap the previous tensor"},
      {"past_data", st_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f8), "tensor 'w': data_offsets [0, 16] run past the 8 data bytes"},
      {"trailing", st_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f8), "4 trailing bytes"},
      {"duplicate", st_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f8), "key 'w' appears twice"},
      {"overflow", st_file(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,8]}})", f8), "shape overflows"},
      {"metadata_not_string", st_file(R"({"__metadata__":{"k":1}})", ""), "__metadata__ entry 'k' is not a string"},
      {"unknown_entry_key", st_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", f8.substr(4)), "unknown key 'x'"},
      {"entry_not_object", st_file(R"({"w":3})", ""), "tensor 'w': header entry is not an object"},
  };
}

TEST(Safetensors, RejectsEachMalformedFileWithItsOwnError) {
  std::string dir = test::temp_dir();
  for (const BadFile& bad : corpus()) {
    std::string path = test::write_file(dir, std::string(bad.name) + ".safetensors", bad.bytes);
    try {
      read_safetensors(path);
      ADD_FAILURE() << bad.name << ": accepted";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(bad.error), std::string::npos) << bad.name << ": " << msg;
      EXPECT_EQ(msg.rfind(path, 0), 0u) << bad.name << ": message does not start with the path: " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << bad.name << ": not one line";
    }
  }
}

TEST(Safetensors, MissingFileAndDirectory) {
  EXPECT_THROW(read_safetensors("/nonexistent/x.safetensors"), Error);
  std::string dir = test::temp_dir();
  try {
    read_safetensors(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RoundTripKeepsDtypesShapesValuesAndMetadata) {
  std::string path = test::temp_dir() + "/rt.safetensors";
  Tensor a = Tensor::empty(DType::f32, {2, 3});
  for (int i = 0; i < 6; ++i) a.data_as<float>()[i] = float(i) * 0.5f;
  Tensor b = Tensor::empty(DType::i64, {3});
  for (int i = 0; i < 3; ++i) b.data_as<int64_t>()[i] = -i;
  Tensor c = Tensor::empty(DType::u8, {});
  c.data_as<uint8_t>()[0] = 7;
  write_safetensors(path, {{"a", a}, {"b", b}, {"scalar", c}}, {{"note", "hi"}});
  SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.metadata.at("note"), "hi");
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_TRUE(test::all_close(*f.find("a"), a, 0, 0));
  EXPECT_TRUE(test::all_close(*f.find("b"), b, 0, 0));
  EXPECT_EQ(f.find("scalar")->shape().rank(), 0);
  EXPECT_EQ(f.find("scalar")->data_as<uint8_t>()[0], 7);
}

TEST(Safetensors, MisalignedDataIsCopiedNotMisread) {
  // A 9-byte header puts the data at byte 17: not 4-byte aligned.
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  float v[2] = {1.5f, -2.25f};
  std::string data(reinterpret_cast<const char*>(v), 8);
  std::string padded = header + std::string((4 - (8 + header.size()) % 4) % 4 + 1, ' ');
  std::string path = test::write_file(test::temp_dir(), "m.safetensors", st_file(padded, data));
  SafetensorsFile f = read_safetensors(path);
  const Tensor& w = *f.find("w");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data()) % 4, 0u);
  EXPECT_EQ(w.data_as<float>()[0], 1.5f);
  EXPECT_EQ(w.data_as<float>()[1], -2.25f);
}

TEST(Safetensors, ReadsFilesWrittenByTheReferenceImplementation) {
  // tests/fixtures/ops.safetensors was written by Python's safetensors package.
  SafetensorsFile f = read_safetensors(test::fixture("ops.safetensors"));
  EXPECT_GT(f.tensors.size(), 100u);
  EXPECT_TRUE(f.metadata.count("cases"));
}

}  // namespace
}  // namespace heed

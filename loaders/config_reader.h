#pragma once
// Reading an importer's config.json: typed lookups whose errors name the file and key.
#include <heed/error.h>

#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/json_text.h"

namespace heed {

class ConfigReader {
 public:
  // `needed_for`: what the file is for, in the error when it cannot be opened.
  ConfigReader(std::string path, const std::string& needed_for) : path_(std::move(path)) {
    j_ = read_json_file(path_, needed_for);
    if (!j_.is_object()) throw Error(fmt::format("{}: expected a JSON object", path_));
  }
  int64_t integer(const char* key) const {
    if (!j_.contains(key) || !j_[key].is_number_integer())
      throw Error(fmt::format("{}: '{}' is missing or not an integer", path_, key));
    return j_[key].get<int64_t>();
  }
  int64_t integer(const char* key, int64_t fallback) const { return j_.contains(key) ? integer(key) : fallback; }
  // An integer, or -1 where the key is null (transformers' None); `fallback` where absent.
  int64_t optional_integer(const char* key, int64_t fallback) const {
    if (!j_.contains(key)) return fallback;
    return j_[key].is_null() ? -1 : integer(key);
  }
  bool flag(const char* key, bool fallback) const {
    if (!j_.contains(key)) return fallback;
    if (!j_[key].is_boolean()) throw Error(fmt::format("{}: '{}' must be true or false", path_, key));
    return j_[key].get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    if (!j_.contains(key)) return fallback;
    if (!j_[key].is_string()) throw Error(fmt::format("{}: '{}' must be a string", path_, key));
    return j_[key].get<std::string>();
  }
  void refuse_if(bool cond, const std::string& what, const std::string& importer) const {
    if (cond) throw Error(fmt::format("{}: {} is not supported by heed's {} importer", path_, what, importer));
  }
  void fail(const std::string& what) const { throw Error(fmt::format("{}: {}", path_, what)); }
  const nlohmann::json& raw() const { return j_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  nlohmann::json j_;
};

}  // namespace heed

#include "engine/importer.h"

#include <heed/error.h>

#include <filesystem>

#include <fmt/format.h>

#include "engine/json_text.h"

namespace heed::detail {
namespace fs = std::filesystem;

static std::vector<Importer>& registry() {
  static std::vector<Importer> all;
  return all;
}

void register_importer(Importer importer) { registry().push_back(std::move(importer)); }

const std::vector<Importer>& importers() {
  static const bool registered = (register_builtin_importers(), true);
  (void)registered;
  return registry();
}

static std::string known_model_types() {
  std::vector<std::string> types;
  for (const Importer& i : importers())
    if (!i.model_type.empty()) types.push_back(fmt::format("\"{}\"", i.model_type));
  if (types.size() < 2) return fmt::format("{}", fmt::join(types, ""));
  std::string last = types.back();
  types.pop_back();
  return fmt::format("{} or {}", fmt::join(types, ", "), last);
}

static std::string known_directories() {
  std::vector<std::string> names;
  for (const Importer& i : importers())
    if (!i.model_type.empty()) names.push_back(i.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

static const Importer& directory_importer(const std::string& dir) {
  const std::string config = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config))
    throw Error(fmt::format("{}: a model directory needs config.json ({})", dir, known_directories()));
  nlohmann::json j = read_json_file(config, "the model's configuration");
  if (!j.is_object()) throw Error(fmt::format("{}: expected a JSON object", config));
  auto type = j.find("model_type");
  if (type != j.end() && type->is_string())
    for (const Importer& i : importers())
      if (i.model_type == type->get<std::string>()) return i;
  throw Error(fmt::format("{}: model_type is {}, expected {}", config,
                          type == j.end() ? "missing" : type->dump(), known_model_types()));
}

const Importer* find_importer(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return &directory_importer(path);
  for (const Importer& i : importers())
    if (!i.suffix.empty() && path.ends_with(i.suffix)) return &i;
  return nullptr;
}

}  // namespace heed::detail

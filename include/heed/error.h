#pragma once
// The one error type heed throws. Messages are single lines that name the file,
// tensor, node or value at fault, so a tool can print them as they are.
#include <heed/export.h>

#include <stdexcept>
#include <string>

namespace heed {

class HEED_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace heed

#include <heed/limits.h>

#include <mutex>

namespace heed {
namespace {
std::mutex mutex;
Limits current;
}  // namespace

Limits limits() {
  std::lock_guard lock(mutex);
  return current;
}

void set_limits(const Limits& limits) {
  std::lock_guard lock(mutex);
  current = limits;
}

}  // namespace heed

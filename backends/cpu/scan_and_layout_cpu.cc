// CumSum, Trilu, Tile, Pad: plain loops over rows (masks, position ids and
// image borders, not the hot path of a model).
#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/kernel_util.h"

namespace heed::cpu {
namespace {

// x as [outer, n, inner] around `axis`.
Rows rows_around(const Shape& x, int axis) {
  Rows r{1, x[axis], 1};
  for (int i = 0; i < axis; ++i) r.outer *= x[i];
  for (int i = axis + 1; i < x.rank(); ++i) r.inner *= x[i];
  return r;
}

std::unique_ptr<Invocation> cumsum(const NodeShapes& s, int axis, bool exclusive, bool reverse) {
  const Rows r = rows_around(s.in[0].shape, axis);
  return dispatch_dtype(s.in[0].dtype, [&](auto zero) {
    using T = decltype(zero);
    return invocation([r, exclusive, reverse](const Buffers& io) {
      const T* x = io.in_as<T>(0);
      T* y = io.out_as<T>(0);
      for (int64_t o = 0; o < r.outer; ++o)
        for (int64_t i = 0; i < r.inner; ++i) {
          T acc = T(0);
          for (int64_t step = 0; step < r.n; ++step) {
            const int64_t j = reverse ? r.n - 1 - step : step, at = (o * r.n + j) * r.inner + i;
            const T v = x[at];
            if (!exclusive) acc += v;
            y[at] = acc;
            if (exclusive) acc += v;
          }
        }
    });
  });
}

std::unique_ptr<Invocation> trilu(const NodeShapes& s, bool upper, int64_t k) {
  const Shape& x = s.in[0].shape;
  const int64_t rows = x[x.rank() - 2], cols = x[x.rank() - 1], matrices = x.numel() / std::max<int64_t>(rows * cols, 1);
  const size_t elem = dtype_size(s.in[0].dtype);
  return invocation([=](const Buffers& io) {
    const char* in = static_cast<const char*>(io.in(0));
    char* out = static_cast<char*>(io.out(0));
    for (int64_t m = 0; m < matrices; ++m)
      for (int64_t i = 0; i < rows; ++i) {
        const size_t row = size_t((m * rows + i) * cols) * elem;
        for (int64_t j = 0; j < cols; ++j) {
          const bool keep = upper ? j - i >= k : j - i <= k;
          if (keep) std::memcpy(out + row + size_t(j) * elem, in + row + size_t(j) * elem, elem);
          else std::memset(out + row + size_t(j) * elem, 0, elem);
        }
      }
  });
}

// Output row r (all dims but the last) reads input row source_row(r), or none (-1: a padding row).
template <typename MapDim>
std::vector<int64_t> source_rows(const Shape& out, const Shape& in, MapDim map_dim) {
  const int rank = out.rank();
  int64_t count = 1;
  for (int d = 0; d + 1 < rank; ++d) count *= out[d];
  std::vector<int64_t> rows(static_cast<size_t>(count));
  for (int64_t r = 0; r < count; ++r) {
    int64_t rest = r, src = 0, stride = 1;
    bool inside = true;
    for (int d = rank - 2; d >= 0; --d) {
      const int64_t c = map_dim(d, rest % out[d]);
      rest /= out[d];
      inside = inside && c >= 0;
      src += c * stride;
      stride *= in[d];
    }
    rows[size_t(r)] = inside ? src : -1;
  }
  return rows;
}

std::unique_ptr<Invocation> tile(const NodeShapes& s) {
  const Shape &in = s.in[0].shape, &out = s.out[0].shape;
  const size_t elem = dtype_size(s.in[0].dtype);
  if (out.numel() == 0) return invocation([](const Buffers&) {});
  if (in.rank() == 0) return invocation([elem](const Buffers& io) { std::memcpy(io.out(0), io.in(0), elem); });
  std::vector<int64_t> rows = source_rows(out, in, [&](int d, int64_t c) { return c % in[d]; });
  const int64_t width = out[out.rank() - 1], in_width = in[in.rank() - 1];
  return invocation([rows, width, in_width, elem](const Buffers& io) {
    const char* src = static_cast<const char*>(io.in(0));
    char* dst = static_cast<char*>(io.out(0));
    for (size_t r = 0; r < rows.size(); ++r)
      for (int64_t j = 0; j < width; j += in_width)
        std::memcpy(dst + (r * size_t(width) + size_t(j)) * elem, src + size_t(rows[r] * in_width) * elem,
                    size_t(std::min(in_width, width - j)) * elem);
  });
}

// Input index for output coordinate c of a dim padded by `begin` (mode: constant -> -1 outside).
int64_t padded_index(int64_t c, int64_t begin, int64_t n, const std::string& mode) {
  int64_t i = c - begin;
  if (i >= 0 && i < n) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return std::clamp<int64_t>(i, 0, n - 1);
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);  // reflect: ... 2 1 | 0 1 2 ... n-1 | n-2 ...
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

std::unique_ptr<Invocation> pad(const NodeShapes& s, std::vector<int64_t> pads, std::string mode, double value) {
  const Shape &in = s.in[0].shape, &out = s.out[0].shape;
  const int rank = in.rank();
  if (out.numel() == 0) return invocation([](const Buffers&) {});
  if (rank == 0) return invocation([elem = dtype_size(s.in[0].dtype)](const Buffers& io) { std::memcpy(io.out(0), io.in(0), elem); });
  std::vector<int64_t> rows =
      source_rows(out, in, [&](int d, int64_t c) { return padded_index(c, pads[size_t(d)], in[d], mode); });
  std::vector<int64_t> cols(static_cast<size_t>(out[rank - 1]));
  for (size_t j = 0; j < cols.size(); ++j)
    cols[j] = padded_index(int64_t(j), pads[size_t(rank - 1)], in[rank - 1], mode);
  const int64_t in_width = in[rank - 1];
  return dispatch_dtype(s.in[0].dtype, [&](auto zero) {
    using T = decltype(zero);
    return invocation([rows, cols, in_width, fill = T(value)](const Buffers& io) {
      const T* x = io.in_as<T>(0);
      T* y = io.out_as<T>(0);
      for (size_t r = 0; r < rows.size(); ++r) {
        T* row = y + r * cols.size();
        if (rows[r] < 0) {
          std::fill_n(row, cols.size(), fill);
          continue;
        }
        const T* src = x + rows[r] * in_width;
        for (size_t j = 0; j < cols.size(); ++j) row[j] = cols[j] < 0 ? fill : src[cols[j]];
      }
    });
  });
}

}  // namespace

void register_scan_and_layout_kernels() {
  register_kernel("CumSum", [](const KernelInit& init) {
    const int64_t axis = init.node.attr_int("axis");
    const bool exclusive = init.node.attr_int("exclusive"), reverse = init.node.attr_int("reverse");
    return kernel([=](const NodeShapes& s) {
      return cumsum(s, int(axis < 0 ? axis + s.in[0].shape.rank() : axis), exclusive, reverse);
    });
  });
  register_kernel("Trilu", [](const KernelInit& init) {
    const bool upper = init.node.attr_int("upper");
    const int64_t k = init.node.attr_int("k");
    return kernel([=](const NodeShapes& s) { return trilu(s, upper, k); });
  });
  register_kernel("Tile", [](const KernelInit&) { return kernel([](const NodeShapes& s) { return tile(s); }); });
  register_kernel("Pad", [](const KernelInit& init) {
    std::vector<int64_t> pads = init.node.attr_ints("pads");
    std::string mode = init.node.attr_string("mode");
    const double value = init.node.attr_float("value");
    return kernel([=](const NodeShapes& s) { return pad(s, pads, mode, value); });
  });
}

}  // namespace heed::cpu

#include "backends/cpu/attention_core.h"

#include "backends/cpu/attention_rows.h"
#include "backends/cpu/flash_attention.h"
#include "engine/cpu_isa.h"
#include "engine/kernel_helpers.h"

#include "engine/fast_math.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace heed::cpu {
namespace {

constexpr int64_t kBlockQ = 64, kBlockK = 256;  // the online softmax's blocks

struct Scratch {  // a span of the workspace: its offset in bytes, its size in floats
  size_t offset = 0, floats = 0;
};

const float* at(const float* p, const View4& v, int64_t b, int64_t h, int64_t r) {
  return p + b * v.strides[0] + h * v.strides[1] + r * v.strides[2];
}
float* at(float* p, const View4& v, int64_t b, int64_t h, int64_t r) {
  return p + b * v.strides[0] + h * v.strides[1] + r * v.strides[2];
}

}  // namespace

struct AttentionCore::Impl {
  AttentionDims d;
  View4 q, k, v, o;
  float scale;
  Mode mode;
  // materialized
  StridedMatmul scores, context;
  Scratch score_buf;
  // blocked, exact: query slabs [rows full|rest] against all keys
  bool online = false;
  int64_t slab_rows = 0;
  StridedMatmul slab_scores[2], slab_context[2];
  Scratch slab;
  // blocked, online: [q rows full|rest][k cols full|rest]
  StridedMatmul block_scores[2][2], block_context[2][2];
  Scratch s_blk, o_acc, m_run, l_run;
  // blocked, flash: AVX-512, head size 64 (backends/cpu/flash_attention.h)
  bool flash = false, amx = false;  // amx: the bf16 kernel on AMX tiles
  int flash_threads = 1;
  Scratch flash_scratch;
  // loops: a row of scores per thread
  Scratch thread_rows;
  // The workspace: every Scratch above is a span of it, placed at setup.
  WorkspacePlan workspace;
  void* ws = nullptr;  // this run's

  Scratch place(int64_t floats) { return {workspace.add(size_t(floats) * sizeof(float)), size_t(floats)}; }
  float* operator()(const Scratch& s) const { return workspace_at<float>(ws, s.offset); }

  View4 scores_view(int64_t rows, int64_t cols, int64_t ld) const {
    return {{d.B, d.H, rows, cols}, {d.H * rows * ld, rows * ld, ld, 1}};
  }
  View4 k_transposed(int64_t cols) const {  // K^T as [B, H, Dk, cols]
    return {{d.B, d.H, d.Dk, cols}, {k.strides[0], k.strides[1], k.strides[3], k.strides[2]}};
  }

  void setup_materialized() {
    View4 s = scores_view(d.T, d.L, d.L);
    scores = StridedMatmul(q, k_transposed(d.L), s, scale);
    context = StridedMatmul(s, v, o);
    score_buf = place(d.B * d.H * d.T * d.L);
  }

  void setup_blocked(size_t slab_bytes, Precision precision) {
    if (cpu_isa() == CpuIsa::avx512 && flash_attention_fits(d, q, k, v, o)) {
      flash = true;
      amx = precision == Precision::bf16 && flash_amx_usable();
      flash_threads = omp_get_max_threads();
      const size_t per_thread = amx ? flash_amx_thread_floats(d.L) : flash_thread_floats(d.L);
      flash_scratch = place(int64_t(flash_threads) * int64_t(per_thread));
      return;
    }
    // As many query rows per slab as fit (a multiple of 16, at most 256, at most T).
    int64_t per_row = d.B * d.H * d.L * int64_t(sizeof(float));
    slab_rows = std::min<int64_t>({int64_t(slab_bytes) / per_row / 16 * 16, 256, d.T});
    online = slab_rows < std::min<int64_t>(16, d.T);
    if (online) return setup_online();
    for (int qi = 0; qi < 2; ++qi) {
      int64_t rows = qi == 0 ? slab_rows : d.T % slab_rows;
      if (rows == 0) continue;
      View4 s = scores_view(rows, d.L, d.L);
      slab_scores[qi] = StridedMatmul(q.with_rows(rows), k_transposed(d.L), s, scale);
      slab_context[qi] = StridedMatmul(s, v, o.with_rows(rows));
    }
    slab = place(d.B * d.H * slab_rows * d.L);
  }

  void run_slabs(const float* qp, const float* kp, const float* vp, float* op, const AttentionMasks& m) {
    const int64_t stride = m.mask_stride ? m.mask_stride : d.L, BH = d.B * d.H, L = d.L;
    for (int64_t t0 = 0; t0 < d.T; t0 += slab_rows) {
      int64_t rows = std::min(slab_rows, d.T - t0);
      int qi = rows == slab_rows ? 0 : 1;
      slab_scores[qi].run(qp + t0 * q.strides[2], kp, (*this)(slab));
      // Causal rows see at most query_offset + t + 1 keys: the rest is -inf anyway.
#pragma omp parallel for if (BH * rows * L > 16384)
      for (int64_t r = 0; r < BH * rows; ++r)
        masked_softmax_row((*this)(slab) + r * L, L, {r / (d.H * rows), (r / rows) % d.H, t0 + r % rows}, 0, m, stride);
      slab_context[qi].run((*this)(slab), vp, op + t0 * o.strides[2]);
    }
  }

  void setup_online() {
    int64_t rq = d.T % kBlockQ, rk = d.L % kBlockK;
    for (int qi = 0; qi < 2; ++qi)
      for (int ki = 0; ki < 2; ++ki) {
        int64_t rows = qi == 0 ? std::min(kBlockQ, d.T) : rq, cols = ki == 0 ? std::min(kBlockK, d.L) : rk;
        if (rows == 0 || cols == 0) continue;
        View4 s = scores_view(rows, cols, kBlockK);
        s.strides = {d.H * kBlockQ * kBlockK, kBlockQ * kBlockK, kBlockK, 1};
        block_scores[qi][ki] = StridedMatmul(q.with_rows(rows), k_transposed(cols), s, scale);
        View4 acc{{d.B, d.H, rows, d.Dv}, {d.H * kBlockQ * d.Dv, kBlockQ * d.Dv, d.Dv, 1}};
        block_context[qi][ki] = StridedMatmul(s, v.with_rows(cols), acc, 1.f, true);
      }
    s_blk = place(d.B * d.H * kBlockQ * kBlockK);
    o_acc = place(d.B * d.H * kBlockQ * d.Dv);
    m_run = place(d.B * d.H * kBlockQ);
    l_run = place(d.B * d.H * kBlockQ);
  }

  void run_materialized(const float* qp, const float* kp, const float* vp, float* op, const AttentionMasks& m,
                        float* weights) {
    float* s = weights ? weights : (*this)(score_buf);
    scores.run(qp, kp, s);
    const int64_t rows = d.B * d.H * d.T, L = d.L, stride = m.mask_stride ? m.mask_stride : L;
#pragma omp parallel for if (rows * L > 16384)
    for (int64_t r = 0; r < rows; ++r)
      masked_softmax_row(s + r * L, L, {r / (d.H * d.T), (r / d.T) % d.H, r % d.T}, 0, m, stride);
    context.run(s, vp, op);
  }

  // Online softmax over key blocks for queries [t0, t0 + rows).
  void run_query_block(int qi, int64_t t0, int64_t rows, const float* qp, const float* kp, const float* vp,
                       float* op, const AttentionMasks& m) {
    const int64_t stride = m.mask_stride ? m.mask_stride : d.L, BH = d.B * d.H;
    float *acc_all = (*this)(o_acc), *m_all = (*this)(m_run), *l_all = (*this)(l_run), *s_all = (*this)(s_blk);
    std::fill(acc_all, acc_all + o_acc.floats, 0.f);
    std::fill(m_all, m_all + m_run.floats, -INFINITY);
    std::fill(l_all, l_all + l_run.floats, 0.f);
    for (int64_t j0 = 0; j0 < d.L; j0 += kBlockK) {
      if (m.causal && j0 > m.query_offset + t0 + rows - 1) break;  // every later key is in the future
      int64_t cols = std::min(kBlockK, d.L - j0);
      int ki = cols == std::min(kBlockK, d.L) ? 0 : 1;
      block_scores[qi][ki].run(qp + t0 * q.strides[2], kp + j0 * k.strides[2], s_all);
#pragma omp parallel for if (BH * rows * cols > 16384)
      for (int64_t r = 0; r < BH * rows; ++r) {
        int64_t bh = r / rows, i = r % rows;
        float* row = s_all + (bh * kBlockQ + i) * kBlockK;
        float& mr = m_all[bh * kBlockQ + i];
        float& lr = l_all[bh * kBlockQ + i];
        float* acc = acc_all + (bh * kBlockQ + i) * d.Dv;
        add_masks_row(row, cols, {bh / d.H, bh % d.H, t0 + i}, j0, m, stride);
        float bmax = -INFINITY;
        for (int64_t j = 0; j < cols; ++j) bmax = std::max(bmax, row[j]);
        float mnew = std::max(mr, bmax);
        if (mnew == -INFINITY) {  // nothing visible yet: contribute nothing
          std::fill(row, row + cols, 0.f);
          continue;
        }
        float rescale = std::exp(mr - mnew), sum = 0.f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < cols; ++j) {
          row[j] = exp_approx(row[j] - mnew);
          sum += row[j];
        }
        if (rescale != 1.f)
          for (int64_t e = 0; e < d.Dv; ++e) acc[e] *= rescale;
        lr = lr * rescale + sum;
        mr = mnew;
      }
      block_context[qi][ki].run(s_all, vp + j0 * v.strides[2], acc_all);
    }
#pragma omp parallel for if (BH * rows * d.Dv > 16384)
    for (int64_t r = 0; r < BH * rows; ++r) {
      int64_t bh = r / rows, i = r % rows;
      float l = l_all[bh * kBlockQ + i], inv = l > 0 ? 1.f / l : 0.f;
      const float* acc = acc_all + (bh * kBlockQ + i) * d.Dv;
      float* out = at(op, o, bh / d.H, bh % d.H, t0 + i);
      for (int64_t e = 0; e < d.Dv; ++e) out[e * o.strides[3]] = acc[e] * inv;
    }
  }

  void run_blocked(const float* qp, const float* kp, const float* vp, float* op, const AttentionMasks& m) {
    if (flash) {
      const FlashAttention a{qp, kp, vp, op, q, k, v, o, d.B, d.H, d.T, d.L, scale, &m, m.mask_stride ? m.mask_stride : d.L};
      const int threads = std::min(flash_threads, omp_get_max_threads());
      return amx ? flash_attention_amx(a, (*this)(flash_scratch), threads)
                 : flash_attention_avx512(a, (*this)(flash_scratch), threads);
    }
    if (!online) return run_slabs(qp, kp, vp, op, m);
    for (int64_t t0 = 0; t0 < d.T; t0 += kBlockQ) {
      int64_t rows = std::min(kBlockQ, d.T - t0);
      run_query_block(rows == std::min(kBlockQ, d.T) ? 0 : 1, t0, rows, qp, kp, vp, op, m);
    }
  }

  void run_loops(const float* qp, const float* kp, const float* vp, float* op, const AttentionMasks& m,
                 float* weights, int64_t keys) {
    const int64_t rows = d.B * d.H * d.T, stride = m.mask_stride ? m.mask_stride : d.L;
#pragma omp parallel for if (rows * keys * d.Dk > 32768)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t b = r / (d.H * d.T), h = (r / d.T) % d.H, t = r % d.T, kb = b / d.kv_group;
      float* s = weights ? weights + r * d.L : (*this)(thread_rows) + size_t(omp_get_thread_num()) * size_t(d.L);
      attend_row({at(qp, q, b, h, t), at(kp, k, kb, h, 0), k.strides[2], at(vp, v, kb, h, 0), v.strides[2],
                  at(op, o, b, h, t), s, keys, d.Dk, d.Dv, scale, {b, h, t}},
                 m, stride);
      if (weights) std::fill(s + keys, s + d.L, 0.f);
    }
  }
};

AttentionCore::AttentionCore(const AttentionDims& dims, const View4& q, const View4& k, const View4& v,
                             const View4& o, float scale, Mode mode, size_t slab_bytes, Precision precision)
    : impl_(std::make_unique<Impl>()) {
  Impl& i = *impl_;
  i.d = dims;
  i.q = q;
  i.k = k;
  i.v = v;
  i.o = o;
  i.scale = scale;
  i.mode = mode;
  if (dims.kv_group < 1 || (dims.kv_group > 1 && mode != Mode::loops))
    throw Error(fmt::format("attention core: keys shared by groups of {} query rows run only as per-row loops", dims.kv_group));
  if (dims.B * dims.H * dims.T == 0) return;
  if (mode == Mode::materialized && dims.L > 0) i.setup_materialized();
  if (mode == Mode::blocked && dims.L > 0) i.setup_blocked(slab_bytes, precision);
  if (mode == Mode::loops) i.thread_rows = i.place(int64_t(omp_get_max_threads()) * std::max<int64_t>(dims.L, 1));
}

AttentionCore::AttentionCore(AttentionCore&&) noexcept = default;
bool AttentionCore::online() const { return impl_->online; }
bool AttentionCore::runs_bf16() const { return impl_->amx; }
size_t AttentionCore::workspace_bytes() const { return impl_->workspace.bytes; }
AttentionCore::~AttentionCore() = default;

void AttentionCore::run(const float* q, const float* k, const float* v, float* o, const AttentionMasks& masks,
                        float* weights, int64_t keys, void* workspace) {
  Impl& i = *impl_;
  i.ws = workspace;
  if (i.d.B * i.d.H * i.d.T == 0) return;
  if (keys == 0 || i.d.L == 0) {  // nothing to attend to: zeros, as for a fully masked row
    for (int64_t b = 0; b < i.d.B; ++b)
      for (int64_t h = 0; h < i.d.H; ++h)
        for (int64_t t = 0; t < i.d.T; ++t)
          for (int64_t e = 0; e < i.d.Dv; ++e) at(o, i.o, b, h, t)[e * i.o.strides[3]] = 0.f;
    if (weights) std::fill(weights, weights + i.d.B * i.d.H * i.d.T * i.d.L, 0.f);
    return;
  }
  switch (i.mode) {
    case Mode::materialized: i.run_materialized(q, k, v, o, masks, weights); break;
    case Mode::blocked: i.run_blocked(q, k, v, o, masks); break;
    case Mode::loops: i.run_loops(q, k, v, o, masks, weights, keys); break;
  }
}

void AttentionCore::run_bf16_io(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* o,
                                const AttentionMasks& m, void* workspace) {
  Impl& i = *impl_;
  if (!i.amx) throw std::logic_error("AttentionCore::run_bf16_io without the bf16 kernel");
  i.ws = workspace;
  if (i.d.B * i.d.H * i.d.T == 0) return;
  FlashAttention a{nullptr, nullptr, nullptr, nullptr, i.q, i.k, i.v, i.o, i.d.B, i.d.H, i.d.T, i.d.L, i.scale, &m,
                   m.mask_stride ? m.mask_stride : i.d.L};
  a.qh = q, a.kh = k, a.vh = v, a.oh = o;
  flash_attention_amx(a, i(i.flash_scratch), std::min(i.flash_threads, omp_get_max_threads()));
}

}  // namespace heed::cpu
